"""One policy's failure details, each explained: meaning, what to fix, and the live finding."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from tlsrpt_tui.core import tables
from tlsrpt_tui.core.checks.catalogue import RESULT_TYPES
from tlsrpt_tui.core.findings import Finding
from tlsrpt_tui.core.model import FailureDetail, Report
from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.export import ExportSource, rows_export
from tlsrpt_tui.ui.live import LiveState
from tlsrpt_tui.ui.text import cell, clean, number
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter
from tlsrpt_tui.ui.widgets.row_table import RowTable


def explaining_findings(detail: FailureDetail, findings: list[Finding]) -> list[Finding]:
    """Live findings that would make senders report this result-type (same MX first)."""
    same = [f for f in findings if f.result_type and f.result_type == detail.result_type]
    host = (detail.receiving_mx_hostname or "").rstrip(".").lower()
    if host:
        on_host = [f for f in same if host in f.subject.lower()]
        if on_host:
            return on_host
    return same


def explanation(detail: FailureDetail, findings: list[Finding], checked: bool) -> Text:
    text = Text()
    rt = detail.result_type
    text.append("Result type: ", style="bold")
    text.append(clean(rt), style=styles.FAILED_MARK)
    text.append("\n")
    meaning, fix = RESULT_TYPES.get(rt, ("not a result-type this program knows (the IANA "
                                         "registry is open)", "read the reason code and the "
                                         "additional information"))
    text.append("Meaning: ", style="bold")
    text.append(meaning + "\n")
    text.append("What to fix: ", style="bold")
    text.append(fix + "\n")
    if detail.failure_reason_code:
        text.append("Reason code: ", style="bold")
        text.append(clean(detail.failure_reason_code) + "\n")
    if detail.additional_information:
        text.append("Additional information: ", style="bold")
        text.append(clean(detail.additional_information) + "\n")
    live = explaining_findings(detail, findings)
    if live:
        text.append("Live check explains it:\n", style="bold")
        for f in live:
            text.append(f"  [{f.severity}] ", style=styles.FAILED if f.severity == "error" else
                        styles.WARNING)
            text.append(f"{clean(f.code)} {clean(f.subject)}: {clean(f.message)}\n")
            if f.hint:
                text.append(f"    fix: {clean(f.hint)}\n", style="dim")
    elif checked:
        text.append("The latest live check finds nothing that explains it now (fixed since, "
                    "or a problem on the sender's side).\n", style=styles.OK)
    else:
        text.append("No live check result for this domain yet.\n", style="dim")
    text.rstrip()
    return text


class PolicyScreen(Screen):
    KEYMAP = "policy"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, report: Report, index: int, live: LiveState | None = None,
                 select_detail: int = 0) -> None:
        """``live``: the app's live state, whose latest check of the policy's domain explains
        the failures (none: no live check to quote); ``select_detail``: the failure the
        cursor starts on (a Failures row opens its own)."""
        super().__init__()
        self.select_detail = select_detail
        self.live = live
        self.report = report
        self.index = index
        self.policy = report.policies[index]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="policy-body"):
            yield Static(self._head(), id="policy-header")
            yield RowTable(cursor_type="row", id="failures")
            yield Static(id="failure-explain")
        yield KeysFooter()

    def _head(self) -> Text:
        p = self.policy
        row = tables.policy_row(self.report, p)
        text = Text()
        text.append("Policy: ", style="bold")
        text.append(f"{clean(row.policy_type)} for {clean(row.policy_domain)}\n")
        text.append("Details: ", style="bold")
        text.append(clean(row.policy_details) + "\n")
        text.append("Sessions: ", style="bold")
        text.append(f"{p.successful_sessions:,} successful, ")
        text.append(f"{p.failed_sessions:,} failed", style=styles.failed_count(p.failed_sessions))
        if p.count_mismatch:
            text.append(f"\nNote: failure details add up to {p.detail_failed_sum}, not "
                        f"{p.failed_sessions}", style=styles.WARNING)
        if not p.failure_details:
            text.append("\nNo failure details in this policy.", style=styles.OK)
        return text

    def on_mount(self) -> None:
        self.sub_title = f"{clean(self.report.organization)} · {clean(self.policy.policy_domain)}"
        table = self.query_one("#failures", DataTable)
        for key, label in (
            ("type", "Result Type"), ("count", "Count"), ("mx", "Receiving MX"),
            ("rip", "Receiving IP"), ("sip", "Sending MTA IP"), ("helo", "HELO"),
            ("code", "Reason Code"), ("info", "Additional Info"),
        ):
            table.add_column(label, key=key)
        for i, d in enumerate(self.policy.failure_details):
            table.add_row(
                cell(d.result_type, styles.FAILED),
                number(d.failed_session_count, styles.FAILED_MARK),
                cell(d.receiving_mx_hostname),
                cell(d.receiving_ip),
                cell(d.sending_mta_ip),
                cell(d.receiving_mx_helo),
                cell(d.failure_reason_code),
                cell(d.additional_information),
                key=f"d{i}",
            )
        table.display = bool(self.policy.failure_details)  # no empty header under "No failure…"
        table.focus()
        if 0 < self.select_detail < table.row_count:
            table.move_cursor(row=self.select_detail, animate=False)
        self._explain(self.select_detail if self.select_detail < table.row_count else 0)

    def _findings(self) -> tuple[list[Finding], bool]:
        domain = self.policy.policy_domain.lower()
        status = self.live.check(domain).status if self.live is not None else None
        if status is None:
            return [], False
        return list(getattr(status, "findings", ()) or ()), True

    def _explain(self, row: int) -> None:
        box = self.query_one("#failure-explain", Static)
        if not self.policy.failure_details:
            box.update(Text(""))
            return
        detail = self.policy.failure_details[min(row, len(self.policy.failure_details) - 1)]
        findings, checked = self._findings()
        box.update(explanation(detail, findings, checked))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._explain(event.cursor_row)


    def export_source(self) -> ExportSource:
        rows = [tables.failure_row(self.report, self.policy, d)
                for d in self.policy.failure_details]
        return rows_export("policy-failures", rows, tables.FailureRow)
