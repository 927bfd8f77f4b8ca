"""The MX set (RFC 5321 §5.1, RFC 7505 null MX) → mx.* findings.

Pure: the service looks up MX, then A/AAAA of every target, and hands the answers here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlsrpt_tui.core.checks.catalogue import finding
from tlsrpt_tui.core.findings import Finding


@dataclass(slots=True)
class MxHost:
    """What the address lookups of one MX target returned."""

    host: str
    preference: int
    addresses: list[str] = field(default_factory=list)
    cname: str | None = None  # the canonical name when the target is an alias
    failed: str | None = None  # the reason when an address lookup failed (not "no address")


def is_null_mx(mx: list[tuple[int, str]]) -> bool:
    """RFC 7505: a single MX with target "." means the domain accepts no mail."""
    return len(mx) == 1 and mx[0][1].rstrip(".") == ""


def mx_findings(domain: str, mx: list[tuple[int, str]], hosts: list[MxHost]) -> list[Finding]:
    """Findings for an MX answer ``mx`` ([] = no MX) and the address lookups of its targets."""
    if not mx:
        return [finding("mx.none", domain)]
    if is_null_mx(mx):
        return [finding("mx.null", domain)]
    out: list[Finding] = []
    for h in hosts:
        if h.failed:
            out.append(finding("mx.lookup-failed", h.host, f"A/AAAA: {h.failed}"))
            continue
        if h.cname:
            out.append(finding("mx.cname", h.host, f"alias of {h.cname}"))
        if not h.addresses:
            out.append(finding("mx.no-address", h.host))
    if not out:
        names = ", ".join(f"{h.preference} {h.host}" for h in hosts)
        out.append(finding("mx.ok", domain, names))
    return out
