"""TLSA RRset analysis for DANE SMTP (RFC 6698, RFC 7671, RFC 7672).

Only the RRset is judged here (usable records, PKIX usages, rollover room, DNSSEC status);
matching against the certificate an MX presents happens in tls_verify.py after the probe.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TlsaRecord:
    """One TLSA record: certificate usage, selector, matching type and association data."""

    usage: int  # 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
    selector: int  # 0 full certificate, 1 SubjectPublicKeyInfo
    mtype: int  # 0 exact, 1 SHA-256, 2 SHA-512
    data: bytes

    @property
    def usable(self) -> bool:
        """Usable for SMTP (RFC 7672 §3.1.3): DANE-TA/EE, known selector, right digest length."""
        if self.usage not in (2, 3) or self.selector not in (0, 1):
            return False
        if self.mtype == 0:
            return len(self.data) > 0
        expected = _DIGEST_LEN.get(self.mtype)
        return expected is not None and len(self.data) == expected

    def to_text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


_DIGEST_LEN = {1: 32, 2: 64}
