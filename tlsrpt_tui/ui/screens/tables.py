"""The Report Overview, Policy Summary and Failures tables, with a docked Total, filterable by a
part of the domain, by date and (Overview, Policy Summary) to the rows with failures.

Rows come from service.queries (the same as ``tlsrpt-tui overview|policies|failures``) through
the injected service, which reads them off the event loop. A load reads the Total (row count and
session sums) from the store's day totals first where they can answer, so it is on screen at
once at any size, then only the rows' keys, a chunk at a time (the first window shows after the
first chunk); the table (widgets.paged.PagedTable) builds the cells of a window of rows around
the cursor, so every row is reachable by keyboard (PageDown, End) without holding them all.
Enter on a row opens its report; on a Policy Summary row, that policy's failure details
(Escape: the report); on a Failures row, that failure among them. Export writes every
matching row.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static
from textual.widgets.data_table import CellDoesNotExist

from tlsrpt_tui.core import tables
from tlsrpt_tui.service import queries
from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.export import ExportSource
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.messages import OpenReport
from tlsrpt_tui.ui.text import cell, clean, number
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter
from tlsrpt_tui.ui.widgets.paged import PagedTable

#: On screen, long text columns are cut at these widths and the count columns get short
#: headers, so that Date, the domain and the counts always fit at 80 columns (wider cells end
#: in "…", the cursor row's detail line shows them whole; export writes the exact values).
SCREEN_COLUMNS: dict[str, tuple[str, int | None]] = {
    "Date": ("Date", 12),  # "✗ 2026-05-30": fixed, never measured from a half-read window
    "Domain": ("Domain", 18),
    "Organization": ("Organization", 22),
    "Report ID": ("Report ID", 24),
    "Contact": ("Contact", 20),
    "Policy Domain": ("Policy Domain", 16),
    "Policy Details": ("Policy Details", 26),
    "Successful Sessions": ("Successful", None),
    "Failed Sessions": ("Failed", None),
    "Result Type": ("Result Type", 20),
    "Receiving MX Hostname": ("Receiving MX", 20),
    "Failure Reason Code": ("Reason Code", 24),
}

#: The columns on screen, in order: Date, the domain and the counts first, so that they are
#: never cut off at 80 columns. "Domain" is the Overview row's policy domains (the seed's
#: table has no such column: the CLI and exports keep the seed's columns and order).
ON_SCREEN: dict[type, tuple[str, ...]] = {
    tables.OverviewRow: ("Date", "Domain", "Successful Sessions", "Failed Sessions",
                         "Organization", "Report ID", "Contact", "Policy Types"),
    tables.PolicyRow: ("Date", "Policy Domain", "Successful Sessions", "Failed Sessions",
                       "Organization", "Policy Type", "Policy Details"),
    tables.FailureRow: ("Date", "Policy Domain", "Failed Sessions", "Result Type",
                        "Receiving MX Hostname", "Receiving IP", "Sending MTA IP",
                        "Organization", "Policy Type", "Failure Reason Code"),
}
#: from this width the text columns get the width of their content
WIDE = 160
#: below this width or height (columns, rows) the filter boxes lose their borders
COMPACT_BELOW = (100, 30)


def screen_values(row: tables.Row) -> list[str | int]:
    """The row's values in its on-screen column order."""
    values: dict[str, str | int] = dict(tables.row_dict(row))
    values["Domain"] = getattr(row, "policy_domains", "")
    return [values[name] for name in ON_SCREEN[type(row)]]


class TableScreen(Screen):
    """Shared by both tables; subclasses name the query and the row type.

    The filter (domain part, from, to) and the sort order are the app's, so they carry over
    when `o` / `p` switch between the tables; the status line always says which filter is
    applied, and Escape in a box puts back the applied value."""

    KEYMAP = "tables"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    TITLE_TEXT = ""
    #: the x key (only failing rows) applies here; a Failures row always is one
    FAILING_TOGGLE = False
    #: the detail line's names for columns, where the table's own would not leave room
    DETAIL_LABELS: ClassVar[dict[str, str]] = {}
    #: the service's table kind, also the export's file-name stem
    STEM = "overview"
    ROW_TYPE: type[tables.Row] = tables.OverviewRow

    def __init__(self, service: ReportService, domain: str | None = None) -> None:
        """``domain``: open filtered to it (what a domain's alert is about)."""
        super().__init__()
        self.service = service
        self.filter = queries.TableFilter(domain_substring=True, newest_first=True)
        #: a domain to open filtered to (an alert's), over the shared filter
        self.open_domain = domain
        #: the rows of the window on screen by key (the detail line reads them)
        self.window_rows: dict[str, tables.Row] = {}
        self.totals = tables.Totals()
        self.row_total = 0
        self.busy = False
        #: what each one-line Static shows (see _show_line)
        self._shown: dict[str, Text] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="table-filters"):
            yield Input(placeholder="d: domain (a part)", id="flt-domain")
            yield Input(placeholder="f: from YYYY-MM-DD", id="flt-since")
            yield Input(placeholder="t: to YYYY-MM-DD", id="flt-until")
        yield Static(id="table-status")
        yield PagedTable(self._build_rows, id="table")
        yield Static(id="table-detail")
        yield Static(id="table-total")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = self.TITLE_TEXT
        shared = getattr(self.app, "table_filter", None)
        if isinstance(shared, queries.TableFilter):
            self.filter = shared
        if self.open_domain:
            self.filter = replace(self.filter, domain=self.open_domain)
            self.app.table_filter = self.filter  # type: ignore[attr-defined]
        self._show_filter()
        table = self.query_one("#table", PagedTable)
        wide = self.app.size.width >= WIDE
        for i, name in enumerate(ON_SCREEN[self.ROW_TYPE]):
            label, width = SCREEN_COLUMNS.get(name, (name, None))
            table.add_column(label, key=f"c{i}",
                             width=width if name == "Date" or not wide else None)
        # the detail and status lines follow the cursor in the frame that draws it (see
        # _cursor_moved)
        self.watch(table, "cursor_coordinate", self._cursor_moved, init=False)
        self.load()
        table.focus()

    def on_resize(self) -> None:
        """Below 100×30 the filter boxes are one line each (two more rows of the table)."""
        small = self.app.size.width < COMPACT_BELOW[0] or self.app.size.height < COMPACT_BELOW[1]
        for box in self.query("#table-filters > Input").results(Input):
            box.compact = small

    def _show_filter(self) -> None:
        """The boxes say what is applied (after Escape, after a switch of table)."""
        self.query_one("#flt-domain", Input).value = self.filter.domain or ""
        self.query_one("#flt-since", Input).value = str(self.filter.since or "")
        self.query_one("#flt-until", Input).value = str(self.filter.until or "")

    # -- rows -----------------------------------------------------------------------------------

    @staticmethod
    def row_key(row: tables.Row) -> str:
        """The DataTable key of a row: what Enter opens."""
        return f"r{getattr(row, 'report_pk', None)}"

    async def _build_rows(self, keys: Sequence[int]) -> list[tuple[str, list[Text]]]:
        """Cells of the rows of these keys (the window on screen), failed rows in red."""
        names = ON_SCREEN[self.ROW_TYPE]
        out = []
        self.window_rows = {}
        rows = await self.service.table_rows(self.STEM, keys)
        forged = await self.service.forged_reports(
            [pk for r in rows if (pk := getattr(r, "report_pk", None)) is not None]
        )
        for row in rows:
            failed = bool(row.failed)
            is_forged = getattr(row, "report_pk", None) in forged
            cells = []
            for name, value in zip(names, screen_values(row), strict=True):
                if is_forged:  # DKIM failed: marked, struck through, its failures not in red
                    text = (number(value, styles.FORGED) if isinstance(value, int) else
                            cell(f"✗ {value}" if name == "Date" else value, styles.FORGED))
                    text.overflow = "ellipsis"
                    cells.append(text)
                elif isinstance(value, int):
                    style = styles.failed_count(value) if name.startswith("Failed") else ""
                    cells.append(number(value, style))
                else:
                    text = cell(value, styles.FAILED if failed and name == "Date" else "")
                    text.overflow = "ellipsis"  # cut at SCREEN_COLUMNS widths with a "…"
                    cells.append(text)
            out.append((self.row_key(row), cells))
            self.window_rows[self.row_key(row)] = row
        return out

    def _total_cells(self, totals: tables.Totals) -> list[Text]:
        total_cells: list[Text] = []
        for i, name in enumerate(ON_SCREEN[self.ROW_TYPE]):
            if i == 0:
                total_cells.append(Text("Total", style="bold"))
            elif name == "Successful Sessions":
                total_cells.append(number(totals.successful, "bold"))
            elif name == "Failed Sessions":
                total_cells.append(
                    number(totals.failed, styles.FAILED_MARK if totals.failed else "bold"))
            else:
                total_cells.append(Text(""))
        return total_cells

    def load(self) -> None:
        """(Re)load in a worker: keys stream in a chunk at a time from the service's thread,
        the first window shows after the first chunk, and a new filter cancels a load still
        running."""
        table = self.query_one("#table", PagedTable)
        table.set_keys(array("q"))
        self.busy = True
        self._show_line("#table-status", Text("loading…", style="dim"))
        self.run_worker(self._load(), group="table-load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        """The Total first (the day totals: known at once at any size), then the keys."""
        table = self.query_one("#table", PagedTable)
        keys: array[int] = array("q")
        shown = False
        try:
            # rows of forged reports (DKIM fail) are listed, marked, and not counted
            total = await self.service.table_total(self.STEM, self.filter)
            real = await self.service.table_total(self.STEM, self.filter, include_forged=False)
            self.totals = tables.Totals(real.successful, real.failed, total.rows - real.rows)
            self.row_total = total.rows
            self._update_total()
            self._update_status()
            async for part in self.service.table_keys(self.STEM, self.filter):
                keys.extend(part.keys)
                if not shown and len(keys) >= table.window:
                    table.set_keys(keys)  # the first rows while the rest are read
                    shown = True
        except Exception as exc:
            self.busy = False
            self._show_line("#table-status",
                            Text(f"could not read the table: {clean(exc)}", style="red"))
            return
        if shown:
            table.set_footer(self._total_cells(self.totals))
        else:
            table.set_keys(keys, self._total_cells(self.totals))
        self.row_total = len(keys)  # rows stored since the Total was read included
        self.busy = False
        self._update_status()

    def _update_total(self) -> None:
        """The Total, docked under the table: always on screen, whatever row the cursor is on."""
        t = self.totals
        text = Text("Total", style="bold")
        text.append(f"  {self.row_total:,} rows")
        if "Successful Sessions" in ON_SCREEN[self.ROW_TYPE]:
            text.append("  successful ")
            text.append(f"{t.successful:,}", style="bold")
        text.append("  failed ")
        text.append(f"{t.failed:,}", style=styles.FAILED_MARK if t.failed else "bold")
        if t.forged:
            text.append(f"  {tables.FORGED_MARK} {t.forged:,} forged not counted",
                        style=styles.FORGED)
        self.query_one("#table-total", Static).update(text)

    def _update_detail(self, key: str | None) -> None:
        """The cursor row's every field, uncut (cells are cut at the column widths)."""
        row = self.window_rows.get(key or "")
        text = Text(no_wrap=False)
        if row is not None:
            for name, value in zip(ON_SCREEN[self.ROW_TYPE], screen_values(row), strict=True):
                if isinstance(value, str) and value and name != "Date":
                    text.append(f"{self.DETAIL_LABELS.get(name, name)}: ", style="bold")
                    text.append(f"{clean(value)}  ")
        # Every cursor move changes this line, and its height is fixed (app.tcss): a layout
        # pass for it (the whole screen re-arranged and redrawn) cost a PageDown more than
        # drawing the table's new rows.
        self._show_line("#table-detail", text)

    def _show_line(self, selector: str, text: Text) -> None:
        """Update the status or detail line (fixed heights in app.tcss: no layout pass) unless
        it already shows `text`: the cursor watcher and the RowHighlighted message that follows
        it compute the same line, and every update of a Static costs a frame."""
        widget = self.query_one(selector, Static)
        if self._shown.get(selector) == text:
            return
        self._shown[selector] = text
        widget.update(text, layout=False)

    def _update_status(self) -> None:
        """``FILTER domain contains net · 120 rows · newest first · row 7``: the filter first,
        so a narrow terminal cuts the row number, never the fact that rows are filtered."""
        table = self.query_one("#table", PagedTable)
        status = Text()
        described = self._describe()
        if described:
            status.append(" FILTER ", style="bold reverse")
            status.append(f" {described} · ")
        status.append(f"{self.row_total:,} rows", style="dim")
        status.append(" · newest first" if self.filter.newest_first else " · oldest first",
                      style="dim")
        if self.busy:
            status.append(" · loading…", style="dim")
        elif self.row_total > table.window:
            status.append(f" · row {min(table.position + 1, self.row_total):,}", style="dim")
        self._show_line("#table-status", status)

    def _cursor_moved(self) -> None:
        """The cursor row's detail and the status line, updated as the cursor moves, not when
        the RowHighlighted message is handled: by then the table's new rows are on their way
        to the screen, and the two lines took a second frame (compositing, the table drawn
        again from its caches) that the next key waited for (bench/README.md, issue 11)."""
        table = self.query_one("#table", PagedTable)
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            key = None
        self._row_moved(key)

    def _row_moved(self, key: str | None) -> None:
        self._update_detail(key)
        if self.row_total > self.query_one("#table", PagedTable).window:
            self._update_status()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # moves the cursor watcher does not see (rows rebuilt under an unmoved cursor)
        self._row_moved(event.row_key.value if event.row_key else None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter: the row's report (a Policy Summary row: that policy, over its report)."""
        key = event.row_key.value or ""
        if not key.startswith("r"):
            return  # the Total row
        report, policy, detail = ([*key[1:].split("."), "", ""])[:3]
        self.post_message(OpenReport(int(report), int(policy) if policy else None,
                                     int(detail) if detail else None))

    def _describe(self) -> str:
        parts = []
        if self.filter.domain:
            parts.append(f"domain contains {clean(self.filter.domain)}")
        if self.filter.since:
            parts.append(f"from {self.filter.since}")
        if self.filter.until:
            parts.append(f"to {self.filter.until}")
        if self.filter.only_failing and self.FAILING_TOGGLE:
            parts.append("only failing")
        return ", ".join(parts)

    def action_focus_filter(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}", Input).focus()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self._show_filter()  # typed but not applied: the boxes say what is applied
            self.query_one("#table", PagedTable).focus()
        else:
            self.app.pop_screen()


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
        if dates[0] and dates[1] and dates[0] > dates[1]:
            self.notify(f"from {dates[0]} is after to {dates[1]}: no day is in that range",
                        severity="error", markup=False)
            return False
        self._set_filter(replace(self.filter, domain=domain, since=dates[0], until=dates[1]))
        return True

    def _set_filter(self, flt: queries.TableFilter) -> None:
        self.filter = flt
        self.app.table_filter = flt  # type: ignore[attr-defined]
        self.load()
        self.query_one("#table", PagedTable).focus()

    def action_only_failing(self) -> None:
        """x: only the rows with failed sessions ↔ every row (kept across o / p)."""
        self._set_filter(replace(self.filter, only_failing=not self.filter.only_failing))

    def action_sort(self) -> None:
        """S: newest first ↔ oldest first (the CLI keeps the seed's oldest-first order)."""
        self._set_filter(replace(self.filter, newest_first=not self.filter.newest_first))

    def export_source(self) -> ExportSource:
        """Every row under the current filter, written by the service (not only the window),
        in the CLI's order (the same bytes as ``tlsrpt-tui overview``)."""
        flt, kind = replace(self.filter, newest_first=False), self.STEM

        async def write(path: Path, fmt: str, overwrite: bool) -> int:
            return await self.service.export_table(kind, flt, fmt, path, overwrite)

        return ExportSource(kind, write)


class OverviewScreen(TableScreen):
    TITLE_TEXT = "Report Overview"
    STEM = "overview"
    OPENED_BY = "overview"  # the key that opens it (left out of its footer)
    ROW_TYPE = tables.OverviewRow
    KEYMAP = ("tables", "summaries")
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("summaries")  # type: ignore[assignment]
    FAILING_TOGGLE = True


class PolicySummaryScreen(TableScreen):
    TITLE_TEXT = "Policy Summary"
    STEM = "policies"
    OPENED_BY = "policies"  # the key that opens it (left out of its footer)
    ROW_TYPE = tables.PolicyRow
    KEYMAP = ("tables", "summaries")
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("summaries")  # type: ignore[assignment]
    FAILING_TOGGLE = True

    @staticmethod
    def row_key(row: tables.Row) -> str:
        return f"r{getattr(row, 'report_pk', None)}.{getattr(row, 'policy_index', None)}"


class FailuresScreen(TableScreen):
    """Every failure detail of the filtered reports, newest first (``tlsrpt-tui failures``);
    Enter opens the report at that policy with the cursor on this failure."""

    TITLE_TEXT = "Failures"
    STEM = "failures"
    OPENED_BY = "failures"  # the key that opens it (left out of its footer)
    ROW_TYPE = tables.FailureRow
    #: eight text fields: with the columns' own names the reason code, last, fell off the
    #: detail line's three lines at 80 columns
    DETAIL_LABELS: ClassVar[dict[str, str]] = {
        "Policy Domain": "Domain", "Result Type": "Result", "Receiving MX Hostname": "MX",
        "Receiving IP": "MX IP", "Sending MTA IP": "Sender IP", "Organization": "Org",
        "Policy Type": "Policy", "Failure Reason Code": "Reason",
    }

    @staticmethod
    def row_key(row: tables.Row) -> str:
        return (f"r{getattr(row, 'report_pk', None)}.{getattr(row, 'policy_index', None)}"
                f".{getattr(row, 'detail_index', None)}")
