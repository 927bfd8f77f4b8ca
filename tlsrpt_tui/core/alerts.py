"""Alerts: their codes, what each says, and how it is spelled in a mail and a webhook.

Pure (no I/O): the service decides WHEN an alert is raised and stores it; this module decides
WHAT it says, the same way for the mail, the webhook, the log and the TUI. Every text that came
from outside (organization names, MX names, reason codes, mail headers) passes ``safe_line``
before it reaches a header or a JSON field: no CR/LF (no header injection), no control or
bidi characters, bounded length. Codes and formats follow ../shared/spec/alerts.md.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tlsrpt_tui.core.checks.catalogue import RESULT_TYPES

#: The stable alert codes (users and tests filter on them).
CODES = (
    "report.failures",
    "report.forged",
    "report.backlog",
    "report.gap",
    "check.changed",
    "check.expiring",
    "sync.failing",
    "alert.delivery",
)

SUBJECT_PREFIX = "[tlsrpt-tui]"


def safe_line(text: object, limit: int = 200) -> str:
    """One line of untrusted text, fit for a mail header or a JSON field.

    Line breaks and every control, format (bidi overrides, zero-width) or unassigned character
    become a space; runs of spaces collapse; the result is cut at ``limit`` characters.
    """
    out = []
    for ch in str(text):
        cat = unicodedata.category(ch)
        out.append(" " if cat[0] in ("C", "Z") else ch)
    line = " ".join("".join(out).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def safe_text(text: object, limit: int = 20_000) -> str:
    """A multi-line body of possibly untrusted text: each line made safe, newlines kept."""
    lines = [" " * min(8, len(line) - len(line.lstrip(" "))) + safe_line(line, 1000)
             for line in str(text).splitlines()]
    body = "\n".join(lines)
    return body if len(body) <= limit else body[:limit] + "\n…"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as stored and sent. ``key`` is its dedup key (UNIQUE in the store)."""

    code: str
    key: str
    severity: str  # info | warning | error
    domain: str
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    body: str = ""
    raised_at: str = ""  # ISO 8601 UTC
    report_pk: int | None = None  # what the TUI opens on Enter (else the domain)
    pk: int | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown alert code {self.code!r}")

    @property
    def subject(self) -> str:
        return safe_line(f"{SUBJECT_PREFIX} {self.domain}: {self.summary}", 400)

    @property
    def message_id(self) -> str:
        """Derived from the dedup key: a re-sent alert is recognisably the same message."""
        digest = hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:40]
        return f"<{digest}@tlsrpt-tui.alert>"

    def webhook_payload(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "key": safe_line(self.key, 500),
            "severity": self.severity,
            "domain": safe_line(self.domain),
            "summary": safe_line(self.summary, 400),
            "details": _safe_json(self.details),
            "raised_at": self.raised_at,
            "text": self.subject,
        }

    def log_line(self) -> str:
        return safe_line(f"alert {self.code} {self.domain}: {self.summary}", 500)


def _safe_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {safe_line(k, 100): _safe_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe_json(v) for v in value]
    if isinstance(value, str):
        return safe_line(value, 1000)
    if value is None or isinstance(value, bool | int | float):
        return value
    return safe_line(value, 1000)


# --------------------------------------------------------------------------------------------
# Wording


def result_type_lines(counts: Mapping[str, int]) -> list[str]:
    """Each RFC 8460 result type with its count, what it means and what to fix."""
    lines = []
    for rtype, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        meaning, fix = RESULT_TYPES.get(rtype, ("a result type this program does not know", ""))
        lines.append(f"- {safe_line(rtype, 80)}: {n} session(s): {meaning}.")
        if fix:
            lines.append(f"  Fix: {fix}.")
    return lines


def failures_summary(failed: int, organization: str, counts: Mapping[str, int]) -> str:
    parts = ", ".join(
        f"{safe_line(t, 60)} {n}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    text = f"{failed} failed sessions reported by {safe_line(organization, 80)}"
    return f"{text} ({parts})" if parts else text


def failures_body(
    *,
    domain: str,
    organization: str,
    report_id: str,
    start: str,
    end: str,
    successful: int,
    failed: int,
    counts: Mapping[str, int],
    where: Iterable[str],
    live_status: Iterable[str],
    report_pk: int,
) -> str:
    lines = [
        f"{safe_line(organization, 120)} reports {failed} failed and {successful} successful "
        f"TLS sessions to {domain} between {start} and {end} (report {safe_line(report_id, 120)}).",
        "",
        "Failures by result type:",
        *result_type_lines(counts),
    ]
    where = list(where)
    if where:
        lines += ["", "Receiving MX / IP named in the report:", *[f"- {w}" for w in where]]
    status = list(live_status)
    if status:
        lines += ["", f"Live status of {domain} (last check):", *[f"- {s}" for s in status]]
    lines += ["", f"More: tlsrpt-tui show {report_pk}"]
    return safe_text("\n".join(lines))


def mail_text(alert: Alert) -> str:
    """The whole text/plain body of the alert mail."""
    foot = f"\n\n-- \ntlsrpt-tui alert {alert.code} ({alert.severity}), raised {alert.raised_at}\n"
    return safe_text(alert.body or alert.summary) + foot


def details_json(details: Mapping[str, Any]) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True)
