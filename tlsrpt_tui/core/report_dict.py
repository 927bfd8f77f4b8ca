"""A parsed report back in RFC 8460 §4.4 shape, for the raw view and `show --format json`.

It is the report as stored, after the parser normalised the senders' quirks (flattened TLSA
strings, mx-host as a list, UTC datetimes with `Z`), so what a script reads is what the tables
were computed from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tlsrpt_tui.core.model import FailureDetail, Policy, Report


def iso_z(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _detail(d: FailureDetail) -> dict[str, Any]:
    pairs = (
        ("result-type", d.result_type),
        ("sending-mta-ip", d.sending_mta_ip),
        ("receiving-mx-hostname", d.receiving_mx_hostname),
        ("receiving-mx-helo", d.receiving_mx_helo),
        ("receiving-ip", d.receiving_ip),
        ("failed-session-count", d.failed_session_count),
        ("additional-information", d.additional_information),
        ("failure-reason-code", d.failure_reason_code),
    )
    return {k: v for k, v in pairs if v is not None}


def _policy(p: Policy) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "policy": {
            "policy-type": p.policy_type_raw,
            "policy-string": list(p.policy_strings),
            "policy-domain": p.policy_domain,
            "mx-host": list(p.mx_hosts),
        },
        "summary": {
            "total-successful-session-count": p.successful_sessions,
            "total-failure-session-count": p.failed_sessions,
        },
    }
    if p.failure_details:
        entry["failure-details"] = [_detail(d) for d in p.failure_details]
    return entry


def report_to_rfc_dict(report: Report) -> dict[str, Any]:
    return {
        "organization-name": report.organization,
        "date-range": {
            "start-datetime": iso_z(report.start),
            "end-datetime": iso_z(report.end),
        },
        "contact-info": report.contact,
        "report-id": report.report_id,
        "policies": [_policy(p) for p in report.policies],
    }
