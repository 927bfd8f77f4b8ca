"""Raw views: a report as RFC 8460 JSON (pretty-printed), or a stored input as received."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, TextArea

from tlsrpt_tui.core.model import Report
from tlsrpt_tui.ui.text import clean


def _dt(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def report_json(report: Report) -> dict[str, Any]:
    """The report in RFC 8460 §4.4 shape, as stored (after the parser normalised it)."""
    policies = []
    for p in report.policies:
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
            entry["failure-details"] = [
                {
                    k: v
                    for k, v in (
                        ("result-type", d.result_type),
                        ("sending-mta-ip", d.sending_mta_ip),
                        ("receiving-mx-hostname", d.receiving_mx_hostname),
                        ("receiving-mx-helo", d.receiving_mx_helo),
                        ("receiving-ip", d.receiving_ip),
                        ("failed-session-count", d.failed_session_count),
                        ("additional-information", d.additional_information),
                        ("failure-reason-code", d.failure_reason_code),
                    )
                    if v is not None
                }
                for d in p.failure_details
            ]
        policies.append(entry)
    return {
        "organization-name": report.organization,
        "date-range": {"start-datetime": _dt(report.start), "end-datetime": _dt(report.end)},
        "contact-info": report.contact,
        "report-id": report.report_id,
        "policies": policies,
    }


class RawScreen(Screen):
    """Read-only text; TextArea shows text literally (no markup), and we strip controls."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    @classmethod
    def for_report(cls, data, report_pk: int) -> RawScreen:  # type: ignore[no-untyped-def]
        detail = data.report(report_pk)
        if detail is None:
            return cls("Raw", f"report {report_pk} is not in the store")
        report, _source = detail
        body = json.dumps(report_json(report), indent=2, ensure_ascii=False)
        return cls(f"Raw JSON · {clean(report.report_id)}", body)

    @classmethod
    def for_input(cls, data, input_pk: int) -> RawScreen:  # type: ignore[no-untyped-def]
        raw = data.raw_input(input_pk)
        if raw is None:
            return cls("Raw", f"input {input_pk} is not in the store")
        source, error, payload = raw
        text = payload.decode("utf-8", errors="replace")
        head = f"unreadable: {error}\n\n" if error else ""
        return cls(f"Raw input · {clean(source)}", head + text)

    def compose(self) -> ComposeResult:
        yield Header()
        body = "\n".join(clean(line) for line in self.body.splitlines())
        yield TextArea(body, read_only=True, show_line_numbers=False, id="raw-text")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = Text(self.title_text).plain
        self.query_one(TextArea).focus()
