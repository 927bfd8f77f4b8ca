"""The Report Overview and Policy Summary tables, with a Total row, filterable by domain/date.

Rows come from service.queries (the same as ``tlsrpt-tui overview|policies``). The Total row is
computed over every matching row; at most MAX_ROWS are put in the DataTable, and the rows are
read in a worker that yields to the event loop, so a store of 100,000 reports stays responsive
(the filters narrow it; export writes every row).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from tlsrpt_tui.core import tables
from tlsrpt_tui.service import queries
from tlsrpt_tui.ui.export import ExportSource, rows_export
from tlsrpt_tui.ui.text import cell, clean, number

if TYPE_CHECKING:
    from tlsrpt_tui.ui.app import TlsrptApp

MAX_ROWS = 1000
#: rows between yields to the event loop while a table loads
CHUNK = 1000


class TableScreen(Screen):
    """Shared by both tables; subclasses name the query and the row type."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("d", "focus_filter('flt-domain')", "Domain"),
        Binding("f", "focus_filter('flt-since')", "From"),
        Binding("t", "focus_filter('flt-until')", "To"),
        Binding("slash", "focus_filter('flt-domain')", "Filter", show=False),
        Binding("e", "app.export", "Export"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    TITLE_TEXT = ""
    STEM = ""
    QUERY = staticmethod(queries.overview_rows)
    ROW_TYPE: type[tables.Row] = tables.OverviewRow

    app: TlsrptApp  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.filter = queries.TableFilter()
        self.totals = tables.Totals()
        self.row_total = 0
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="table-filters"):
            yield Input(placeholder="domain", id="flt-domain")
            yield Input(placeholder="from YYYY-MM-DD", id="flt-since")
            yield Input(placeholder="to YYYY-MM-DD", id="flt-until")
        yield Static(id="table-status")
        yield DataTable(cursor_type="row", id="table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.TITLE_TEXT
        table = self.query_one("#table", DataTable)
        for i, name in enumerate(self.ROW_TYPE.COLUMNS):
            table.add_column(name, key=f"c{i}")
        self.load()
        table.focus()

    def load(self) -> None:
        """(Re)load in a worker: rows stream in, the loop yields every CHUNK rows so keys stay
        responsive on a big store, and a new filter cancels a load still running."""
        table = self.query_one("#table", DataTable)
        table.clear()
        self.busy = True
        self.query_one("#table-status", Static).update(Text("loading…", style="dim"))
        self.run_worker(self._load(), group="table-load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        table = self.query_one("#table", DataTable)
        totals = tables.Totals()
        count = 0
        columns = self.ROW_TYPE.COLUMNS
        for row in self.QUERY(self.app.store, self.filter):
            totals.add(row)
            count += 1
            if count % CHUNK == 0:
                await asyncio.sleep(0.001)  # let keys and repaints through
            if count > MAX_ROWS:
                continue
            failed = bool(row.failed)
            cells = []
            for name, value in zip(columns, tables.row_values(row), strict=True):
                if isinstance(value, int):
                    style = "bold red" if failed and name.startswith("Failed") else ""
                    cells.append(number(value, style))
                else:
                    cells.append(cell(value, "bold red" if failed and name == "Date" else ""))
            table.add_row(*cells, key=f"row{count}")
        total_cells: list[Text] = []
        for i, name in enumerate(columns):
            if i == 0:
                total_cells.append(Text("Total", style="bold"))
            elif name == "Successful Sessions":
                total_cells.append(number(totals.successful, "bold"))
            elif name == "Failed Sessions":
                total_cells.append(number(totals.failed, "bold red" if totals.failed else "bold"))
            else:
                total_cells.append(Text(""))
        table.add_row(*total_cells, key="total")
        self.totals = totals
        self.row_total = count
        shown = min(count, MAX_ROWS)
        status = Text(f"{count:,} rows", style="dim")
        if shown < count:
            status.append(f" (the first {shown:,} shown, Total over all; filter to narrow, "
                          "export writes all)")
        described = self._describe()
        if described:
            status.append(f" · {described}")
        self.query_one("#table-status", Static).update(status)
        self.busy = False

    def _describe(self) -> str:
        parts = []
        if self.filter.domain:
            parts.append(f"domain {clean(self.filter.domain)}")
        if self.filter.since:
            parts.append(f"from {self.filter.since}")
        if self.filter.until:
            parts.append(f"to {self.filter.until}")
        return ", ".join(parts)

    def action_focus_filter(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}", Input).focus()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#table", DataTable).focus()
        else:
            self.app.pop_screen()

    def action_cursor_down(self) -> None:
        self.query_one("#table", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#table", DataTable).action_cursor_up()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.apply_filters()

    def apply_filters(self) -> bool:
        """Read the three filter boxes; a bad date is a notification naming the box."""
        domain = self.query_one("#flt-domain", Input).value.strip() or None
        dates: list[date | None] = []
        for wid, label in (("flt-since", "from"), ("flt-until", "to")):
            value = self.query_one(f"#{wid}", Input).value.strip()
            if not value:
                dates.append(None)
                continue
            try:
                dates.append(tables.parse_date(value))
            except ValueError as exc:
                self.notify(f"{label} date {clean(value)!r}: {clean(exc)}", severity="error",
                            markup=False)
                return False
        self.filter = queries.TableFilter(domain=domain, since=dates[0], until=dates[1])
        self.load()
        self.query_one("#table", DataTable).focus()
        return True

    def export_source(self) -> ExportSource:
        flt = self.filter
        store = self.app.store
        return rows_export(self.STEM, lambda: self.QUERY(store, flt), self.ROW_TYPE)


class OverviewScreen(TableScreen):
    TITLE_TEXT = "Report Overview"
    STEM = "overview"
    QUERY = staticmethod(queries.overview_rows)
    ROW_TYPE = tables.OverviewRow


class PolicySummaryScreen(TableScreen):
    TITLE_TEXT = "Policy Summary"
    STEM = "policies"
    QUERY = staticmethod(queries.policy_rows)
    ROW_TYPE = tables.PolicyRow
