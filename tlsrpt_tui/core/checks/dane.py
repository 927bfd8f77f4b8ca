"""TLSA RRset analysis for DANE SMTP (RFC 6698, RFC 7671, RFC 7672).

Judged the way a DANE sending MTA (Postfix, Exim) judges it: TLSA records count only when every
DNS link leading to them was obtained securely (RFC 7672 §2.2): the MX RRset (and any CNAME to
it), the MX host's address records (after CNAMEs) and the TLSA RRset itself. A secure TLSA
behind an insecure MX or address is ignored by senders, so it is reported as such, never as
"ok". Only the RRset is judged here; matching against the certificate an MX presents happens in
tls_verify.py after the probe, and only when :func:`dane_applies`.
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


@dataclass(frozen=True, slots=True)
class DaneChain:
    """How the DNS links before the TLSA lookup were obtained (the AD bit of each answer).

    ``mx``: the MX RRset and the CNAMEs leading to it were secure (True for an implicit MX,
    whose only link is its address records). ``address``: the host's A/AAAA (after CNAMEs)
    were secure; None when they could not be looked up. ``domain`` and ``cname`` only word
    the findings.
    """

    mx: bool = True
    address: bool | None = True
    domain: str = ""
    cname: str | None = None

    def insecure_link(self, host: str) -> tuple[str, str] | None:
        """(code, detail) for the first insecure link, or None when the chain is secure."""
        if not self.mx:
            return "dane.mx-insecure", f"the MX records of {self.domain or 'the domain'}"
        if self.address is False:
            via = f" (via CNAME {self.cname})" if self.cname else ""
            return "dane.address-insecure", f"the A/AAAA records of {host}{via}"
        return None


def dane_applies(state: str, chain: DaneChain) -> bool:
    """Whether a DANE sender uses the TLSA records: secure RRset behind a secure chain."""
    return state == "secure" and chain.insecure_link("") is None


def tlsa_findings(
    host: str,
    state: str,
    records: list[TlsaRecord],
    reason: str = "",
    chain: DaneChain | None = None,
) -> list[Finding]:
    """Findings for the TLSA RRset of ``_25._tcp.<host>`` behind ``chain`` (default: secure).

    ``state`` is how the lookup ended: "secure"/"insecure" (an answer with/without the AD bit),
    "none" (no TLSA, secure denial or unsigned zone), "bogus" (SERVFAIL from the validating
    resolver) or "failed" (timeout, refused: could not check). Matching the presented
    certificate (dane.ok / dane.mismatch) is the probe's job.
    """
    chain = chain or DaneChain()
    subject = f"_25._tcp.{host}"
    link = chain.insecure_link(host)
    if state == "none":
        return [finding("dane.none", subject)]
    if state == "bogus":
        if link is not None:  # senders never ask for TLSA under an insecure chain
            code, where = link
            detail = f"{where} are insecure, so senders never ask for TLSA (it failed: {reason})"
            return [finding(code, subject, detail)]
        if chain.address is None:  # the host's addresses failed too: mx.lookup-failed says so
            return []
        return [finding("dane.bogus", subject, reason or None)]
    if state == "failed":
        return [finding("dane.lookup-failed", subject, reason or None)]
    if state == "insecure":
        return [finding("dane.insecure", subject, f"{len(records)} record(s)")]
    if link is not None:
        code, where = link
        return [finding(code, subject, f"the TLSA records are secure, but {where} are not")]
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
