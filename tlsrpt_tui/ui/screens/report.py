"""One report: its header fields and its policies (Enter opens a policy's failure details)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from tlsrpt_tui.core import tables
from tlsrpt_tui.core.model import Report
from tlsrpt_tui.core.signature import FAIL_MARK, PASS_MARK, describe, mark
from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.export import ExportSource, rows_export
from tlsrpt_tui.ui.messages import OpenPolicy, OpenRawInput, OpenRawReport
from tlsrpt_tui.ui.text import cell, clean, number
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter
from tlsrpt_tui.ui.widgets.row_table import RowTable

if TYPE_CHECKING:
    from tlsrpt_tui.service.backend import ReportDetail


def _when(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z")


def header_text(report, source: str, dkim=None) -> Text:  # type: ignore[no-untyped-def]
    """The report's header as literal text: every value comes from the sender.

    ``dkim`` (the input's verdict) adds a Signature line saying what was verified."""
    fields: list[tuple[str, object]] = [
        ("Organization", report.organization),
        ("Contact", report.contact or "(none)"),
        ("Report-ID", report.report_id),
        ("Subject Report-ID", report.subject_report_id or "(none)"),
        ("Date range", f"{_when(report.start)} → {_when(report.end)}"),
    ]
    if report.generated_at is not None:
        fields.append(("Generated at", _when(report.generated_at)))
    if report.submitter:
        fields.append(("Submitter", report.submitter))
    if report.report_domain:
        fields.append(("Report domain", report.report_domain))
    fields.append(("Source", source))
    fields.append(("Signature", f"{mark(dkim)} {describe(dkim)}"))
    fields.append(
        ("Sessions", f"{report.successful_sessions:,} successful, "
                     f"{report.failed_sessions:,} failed")
    )
    text = Text()
    for label, value in fields:
        text.append(f"{label:>17}: ", style="bold")
        style = styles.FAILED if label == "Sessions" and report.failed_sessions else ""
        if label == "Signature":
            style = {PASS_MARK: styles.OK, FAIL_MARK: styles.FAILED}.get(mark(dkim),
                                                                         styles.WARNING)
        text.append(clean(value), style=style)
        text.append("\n")
    text.rstrip()
    return text


def notes_text(report) -> Text:  # type: ignore[no-untyped-def]
    """The parser's notes (unsigned or foreign-signed mail, missing TLS-Report-* headers, count
    mismatches) as literal text, one bullet each: they quote sender data (header values,
    domains), so nothing in them is markup."""
    text = Text()
    for note in report.notes:
        text.append("• ", style="bold yellow")
        text.append(clean(note))
        text.append("\n")
    text.rstrip()
    return text


class ReportScreen(Screen):
    KEYMAP = "report"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, detail: ReportDetail, select_policy: int = 0) -> None:
        """``detail``: the report and where it came from, already read by the app."""
        super().__init__()
        self.detail = detail
        self.report: Report = detail.report
        #: the policy row the cursor starts on (a Policy Summary row opens its policy)
        self.select_policy = select_policy

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="report-body"):
            # Notes first: they say whether to trust what follows (RFC 8460 §3 signatures).
            notes = Static(notes_text(self.report), id="report-notes")
            count = len(self.report.notes)
            notes.border_title = f"⚠ {count} note{'' if count == 1 else 's'} on this report"
            notes.display = bool(self.report.notes)
            yield notes
            yield Static(header_text(self.report, self.detail.source, self.detail.dkim),
                         id="report-header")
            yield Static(Text("Policies (Enter: failure details)", style="bold"),
                         classes="section-title")
            yield RowTable(cursor_type="row", id="policies")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = f"Report {clean(self.report.report_id)}"
        table = self.query_one("#policies", DataTable)
        table.add_column("Type", key="type")
        table.add_column("Domain", key="domain")
        table.add_column("OK", key="ok")
        table.add_column("Failed", key="failed")
        table.add_column("Policy Details", key="details")
        for i, row in enumerate(tables.policy_rows(self.report)):
            style = styles.FAILED if row.failed else ""
            table.add_row(
                cell(row.policy_type, style),
                cell(row.policy_domain, style),
                number(row.successful),
                number(row.failed, styles.failed_count(row.failed)),
                cell(row.policy_details),
                key=f"p{i}",
            )
        if 0 < self.select_policy < table.row_count:
            table.move_cursor(row=self.select_policy, animate=False)
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        index = int((event.row_key.value or "p0")[1:])
        self.post_message(OpenPolicy(self.report, index))


    def action_raw(self) -> None:
        self.post_message(OpenRawReport(self.report, self.detail.input_pk))

    def action_mail(self) -> None:
        self.post_message(OpenRawInput(self.detail.input_pk))

    def export_source(self) -> ExportSource:
        rows = tables.policy_rows(self.report)
        return rows_export("report-policies", rows, tables.PolicyRow)
