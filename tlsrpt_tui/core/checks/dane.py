"""TLSA RRset analysis for DANE SMTP (RFC 6698, RFC 7671, RFC 7672).

Only the RRset is judged here (usable records, PKIX usages, rollover room, DNSSEC status);
matching against the certificate an MX presents happens in tls_verify.py after the probe.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlsrpt_tui.core.checks.catalogue import finding
from tlsrpt_tui.core.findings import Finding


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


def tlsa_findings(
    host: str, state: str, records: list[TlsaRecord], reason: str = ""
) -> list[Finding]:
    """Findings for the TLSA RRset of ``_25._tcp.<host>``.

    ``state`` is how the lookup ended: "secure"/"insecure" (an answer with/without the AD bit),
    "none" (no TLSA, secure denial or unsigned zone), "bogus" (SERVFAIL from the validating
    resolver) or "failed" (timeout, refused: could not check). Matching the presented
    certificate (dane.ok / dane.mismatch) is the probe's job.
    """
    subject = f"_25._tcp.{host}"
    if state == "none":
        return [finding("dane.none", subject)]
    if state == "bogus":
        return [finding("dane.bogus", subject, reason or None)]
    if state == "failed":
        return [finding("dane.lookup-failed", subject, reason or None)]
    if state == "insecure":
        return [finding("dane.insecure", subject, f"{len(records)} record(s)")]
    out: list[Finding] = []
    pkix = [r for r in records if r.usage in (0, 1)]
    usable = [r for r in records if r.usable]
    if pkix:
        out.append(finding("dane.pkix-usage", subject, "; ".join(r.to_text() for r in pkix)))
    if not usable:
        out.append(finding("dane.unusable", subject, "; ".join(r.to_text() for r in records)))
    elif len(usable) == 1 and usable[0].usage == 3:
        out.append(finding("dane.no-rollover", subject, usable[0].to_text()))
    return out


def usable_records(records: list[TlsaRecord]) -> list[TlsaRecord]:
    return [r for r in records if r.usable]
