"""A domain's status items: the findings of one check grouped the way a person reads them.

One line per item (TLS-RPT, MTA-STS record, MTA-STS policy, MX, DANE per host, STARTTLS per
host), with its worst severity. The TUI's status cards show these lines, and ``check.changed``
alerts compare them between two checks, so "what broke" means the same thing in both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tlsrpt_tui.core.checks.catalogue import HOST_CODES, no_verdict_items
from tlsrpt_tui.core.findings import Finding, Severity


@dataclass(frozen=True, slots=True)
class StatusItem:
    """One line of a card: a label, its worst severity and the worst finding's message."""

    key: str
    label: str
    severity: Severity
    summary: str
    findings: tuple[Finding, ...]
    unknown: bool = False  # no verdict could be reached from this host ("?" glyph)


_GROUPS = (
    ("tlsrpt.", "TLS-RPT"),
    ("sts.record.", "MTA-STS record"),
    ("sts.policy.", "MTA-STS policy"),
    ("mx.", "MX"),
)


#: Short summaries where the full message would be cut before its point in a narrow card:
#: the DANE line must say which link of the chain is insecure.
_BRIEF = {
    "dane.mx-insecure": "MX insecure",
    "dane.address-insecure": "A/AAAA insecure",
    "dane.insecure": "TLSA insecure",
}


def _host(subject: str) -> str:
    """The MX host a DANE/STARTTLS finding is about (TLSA names start with _25._tcp.)."""
    host = subject.strip().rstrip(".")
    if host.startswith("_") and "._tcp." in host:
        host = host.split("._tcp.", 1)[1]
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def group_findings(
    findings: Iterable[Finding],
    policy_mode: str | None = None,
    records: dict | None = None,
) -> list[StatusItem]:
    """Findings → the card's lines, in a fixed order so lines never jump around.

    Findings about this host (``HOST_CODES``) are left to the panel's top line; ``records``
    add the per-host items that got no verdict (DANE through a non-validating resolver)."""
    buckets: dict[str, list[Finding]] = {}
    labels: dict[str, str] = {}
    order: list[str] = []
    unknown: dict[str, str] = {}
    for label, host, summary in no_verdict_items(records):
        key = f"{label}:{host}"
        if key not in unknown:
            unknown[key] = summary
            buckets[key], labels[key] = [], f"{label} {host}"
            order.append(key)
    for f in findings:
        if f.code in HOST_CODES:
            continue
        key = label = None
        for prefix, name in _GROUPS:
            if f.code.startswith(prefix):
                key, label = prefix, name
                break
        if key is None:
            kind = "DANE" if f.code.startswith("dane.") else (
                "STARTTLS" if f.code.startswith("tls.") else "Other"
            )
            host = _host(f.subject) if kind != "Other" else ""
            key = f"{kind}:{host}"
            label = f"{kind} {host}".strip()
        if key not in buckets:
            buckets[key] = []
            labels[key] = label
            order.append(key)
        buckets[key].append(f)
    fixed = [p for p, _ in _GROUPS if p in buckets]
    rest = sorted((k for k in order if k not in fixed), key=lambda k: (k.split(":", 1)[1], k))
    items = []
    for key in fixed + rest:
        group = buckets[key]
        if not group:  # an item without a verdict
            items.append(StatusItem(key, labels[key], Severity.INFO, unknown[key], (), True))
            continue
        worst = max(group, key=lambda f: f.severity.rank)
        label = labels[key]
        if key == "sts.policy." and policy_mode:
            label = f"{label} ({policy_mode})"
        summary = _BRIEF.get(worst.code, worst.message)
        items.append(StatusItem(key, label, worst.severity, summary, tuple(group)))
    return items
