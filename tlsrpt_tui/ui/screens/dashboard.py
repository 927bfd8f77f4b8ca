"""The dashboard: DNS status and 30-day totals on the left; sync line and inbox on the right."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input

from tlsrpt_tui.ui.export import ExportSource, plain_export
from tlsrpt_tui.ui.widgets.inbox import InboxTable
from tlsrpt_tui.ui.widgets.status_panel import StatusPanel
from tlsrpt_tui.ui.widgets.sync_line import SyncLine
from tlsrpt_tui.ui.widgets.totals import DomainTotals

if TYPE_CHECKING:
    from tlsrpt_tui.ui.app import TlsrptApp


#: the inbox export's columns: the counts by name, an unreadable input's reason and file apart
EXPORT_COLUMNS = ("Date", "Organization", "Domain", "Types", "Successful", "Failed",
                  "Unreadable", "Source")
#: rows read per query while exporting
EXPORT_CHUNK = 1000


class DashboardScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", tooltip="Filter the inbox by text"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("e", "app.export", "Export"),
        Binding("R", "app.readiness", "Readiness",
                tooltip="Enforce readiness of the chosen domain (Tab to its card)"),
        Binding("D", "app.records", "Records",
                tooltip="The records to publish for the chosen domain"),
    ]

    app: TlsrptApp  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        data = self.app.data
        yield Header(show_clock=False)
        with Horizontal(id="dash"):
            with VerticalScroll(id="left"):
                yield StatusPanel(self.app.config.domains, clock=self.app.clock, id="status")
                yield DomainTotals(data.domain_totals(), id="totals")
            with Vertical(id="right"):
                yield SyncLine(id="sync")
                yield Input(placeholder="filter: organization, domain, report-id…", id="filter")
                yield InboxTable(data.inbox_page, data.unreadable, id="inbox")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Dashboard"
        self.query_one("#filter", Input).display = False
        self.query_one(InboxTable).focus()

    # -- inbox ---------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value or ""
        if key.startswith("r"):
            self.app.open_report(int(key[1:]))
        elif key.startswith("u"):
            self.app.open_raw_input(int(key[1:]))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one(InboxTable).reload("")
            self.query_one(InboxTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(InboxTable).reload(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one(InboxTable).focus()

    def refresh_data(self) -> None:
        """New reports were stored: re-read the inbox page and the totals in place."""
        self.query_one(InboxTable).reload()
        self.query_one(DomainTotals).update_totals(self.app.data.domain_totals())

    def export_source(self) -> ExportSource:
        """Every inbox row matching the filter (not just the rows loaded on screen), the
        unreadable inputs with their reason and source in their own columns."""
        data = self.app.data
        text_filter = self.query_one(InboxTable).text_filter

        def rows() -> Iterator[list[object]]:
            for u in data.unreadable(text_filter):
                yield [u.date, "", "", "", "", "", u.unreadable, u.domain]
            offset = 0
            while True:
                page = data.inbox_page(offset, EXPORT_CHUNK, text_filter)
                for e in page:
                    yield [e.date, e.organization, e.domain, e.types, e.successful, e.failed,
                           "", ""]
                if len(page) < EXPORT_CHUNK:
                    return
                offset += len(page)

        return plain_export("inbox", EXPORT_COLUMNS, rows)
