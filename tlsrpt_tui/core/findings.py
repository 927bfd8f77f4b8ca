"""Findings of the live checks: the public contract of ../shared/spec/checks.md.

A finding says what is wrong, where, how to fix it, and which RFC 8460 result-type senders
would report because of it, so a failure in a report can be explained by a live finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.OK: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.ERROR: 3}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str  # e.g. "sts.policy.mx-uncovered"
    severity: Severity
    subject: str  # the record name, host or URL concerned
    message: str
    hint: str = ""
    result_type: str | None = None  # RFC 8460 result-type this would cause, if any

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """The inverse of to_json, for stored check results."""
        return cls(
            code=data["code"],
            severity=Severity(data["severity"]),
            subject=data.get("subject", ""),
            message=data.get("message", ""),
            hint=data.get("hint", ""),
            result_type=data.get("result_type"),
        )

    def to_json(self) -> dict[str, Any]:
        return {  # the fields in their order, as dataclasses.asdict gave them (it deep-copies)
            "code": self.code,
            "severity": str(self.severity),
            "subject": self.subject,
            "message": self.message,
            "hint": self.hint,
            "result_type": self.result_type,
        }


@dataclass(slots=True)
class DomainStatus:
    """The result of one check of one domain (the JSON shape of ``check --format json``).

    Here in core rather than in service.checks so the TUI can show stored results at start-up
    without importing the network stack (DNS, HTTPS and SMTP clients).
    """

    domain: str
    checked_at: str  # ISO 8601 UTC
    status: Severity
    records: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "checked_at": self.checked_at,
            "status": str(self.status),
            "records": self.records,
            "findings": [f.to_json() for f in self.findings],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DomainStatus:
        return cls(
            domain=data["domain"],
            checked_at=data["checked_at"],
            status=Severity(data["status"]),
            records=dict(data.get("records") or {}),
            findings=[
                Finding.from_json(f) for f in data.get("findings") or []
            ],
        )
