"""The report inbox: newest first, paged from the store, failed rows standing out.

With 1,000,000 reports in the store the table must appear as fast as with none, so it never
loads everything: it holds one page, and fetches the next (below the last row shown: keyset
paging) when the cursor nears the end.
Rows are keyed by the report's primary key (``r<pk>``) or the unreadable input's (``u<pk>``),
so a refresh after new mail keeps the cursor on the same report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets.data_table import ColumnKey

from tlsrpt_tui.core.signature import FAIL_MARK, PASS_MARK, mark
from tlsrpt_tui.ui import styles
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.live import LiveState
from tlsrpt_tui.ui.text import cell, clean, number
from tlsrpt_tui.ui.widgets.row_table import RowTable

if TYPE_CHECKING:
    from tlsrpt_tui.service.queries import InboxRow, UnreadableInput

#: the most rows one fetch adds; a page is the terminal's height (at least MIN_PAGE) up to this
PAGE = 60
MIN_PAGE = 20


def cut(value: object, style: str) -> Text:
    """A text cell that ends in "…" where the column cuts it."""
    text = cell(value, style)
    text.overflow = "ellipsis"
    return text


def sig_style(mark: str) -> str:
    """✓ in the success colour, ✗ as the failure mark, ? as a warning (read at call time:
    the styles follow the colour mode)."""
    if mark == PASS_MARK:
        return styles.OK
    if mark == FAIL_MARK:
        return styles.FAILED_MARK
    return styles.WARNING


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One inbox line, already reduced to what the table shows."""

    key: str  # "r<pk>" for a report, "u<pk>" for an unreadable input
    date: str
    organization: str
    domain: str
    types: str
    successful: int | None
    failed: int | None
    unreadable: str | None = None  # the reason, for an input that could not be read
    sig: str = "?"  # ✓ DKIM pass + aligned, ✗ DKIM fail (forged or altered), ? anything else


def report_entry(r: InboxRow) -> InboxEntry:
    return InboxEntry(
        key=f"r{r.pk}", date=r.date, organization=r.organization, domain=r.policy_domains,
        types=r.policy_types, successful=r.successful, failed=r.failed, sig=mark(r.dkim),
    )


def unreadable_entries(inputs: Sequence[UnreadableInput], text_filter: str) -> list[InboxEntry]:
    """Unreadable inputs (and, with a filter, mail recorded as not a report) matching the
    filter the way reports do (source or reason)."""
    needle = text_filter.strip().casefold()
    return [
        InboxEntry(key=f"u{u.pk}", date=_day(u.imported_at), organization="", domain=u.source,
                   types="", successful=None, failed=None, unreadable=u.error)
        for u in inputs
        if not needle or needle in f"{u.source} {u.error}".casefold()
    ]


async def unreadable_for(service: ReportService, text_filter: str) -> list[InboxEntry]:
    """The inbox's unreadable lines for a filter: the mail that could not be read, and with a
    filter also the mail recorded as not a report (its From/Subject/Date match)."""
    found = await service.unreadable()
    if text_filter.strip():
        found += await service.unreadable(other=True)
    return unreadable_entries(found, text_filter)


def _day(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value or "")[:10]


class InboxTable(RowTable):
    """A DataTable over the paged inbox query; Enter posts RowSelected with the row key.

    Pages are read through the injected service in a worker (off the loop); a new filter or
    new reports start a reload that supersedes any page still being read."""

    #: Date, Domain and the counts come first so they stay visible at 80 columns; the
    #: signature mark before them: a forged report's figures are not to be read as real.
    COLUMNS = (
        ("sig", "✓", 1),  # the DKIM signature mark; "?" help explains it
        ("date", "Date", 10),
        ("domain", "Domain", 14),
        ("failed", "Failed", 6),
        ("ok", "OK", 6),
        ("org", "Organization", 20),
        ("types", "Types", 9),
    )
    #: a wider inbox widens the text columns (organization last: it takes the rest); the
    #: cursor row's detail line under the inbox shows them whole at any width
    grow = (("domain", 16), ("types", 6), ("org", 0))
    shrink = (("types", 5), ("org", 12))

    def __init__(self, service: ReportService, live: LiveState | None = None,
                 **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self.service = service
        self.live = live
        self.text_filter = ""
        #: S: the reports oldest first (the unreadable lines stay on top either way)
        self.oldest_first = False
        #: the filter the rows on screen were read for (text_filter while a read is running)
        self.shown_filter = ""
        self.loaded = 0
        self.exhausted = False
        self.page_size = PAGE
        #: (start, pk) of the last report row: the next page continues below it
        self._after: tuple[str, int] | None = None
        self._generation = 0
        self._loading_more = False
        self._reloading = False
        #: the lines shown, in table order (a reload that finds the same ones redraws nothing)
        self._shown: list[InboxEntry] = []
        self._by_key: dict[str, InboxEntry] = {}

    def _fit_page(self) -> None:
        """A page is what the terminal can show, not more: every row added costs a measure
        and a render, which is most of a filter keystroke's time (bench/bench_tui.py)."""
        height = self.app.size.height if self.is_attached else 0
        self.page_size = max(MIN_PAGE, min(PAGE, height))

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            # the ✓ header is a label, not a verdict: never drawn like a mark
            self.add_column(Text(label, style="not bold") if key == "sig" else label, key=key,
                            width=width)
        self.reload()
        if self.live is not None:
            self.live.reports_changed.subscribe(self, lambda _version: self.reload())

    # -- data -------------------------------------------------------------------------------

    def _row(self, e: InboxEntry) -> list[Text]:
        if e.unreadable is not None:
            style = f"italic {styles.WARNING}".strip()
            return [
                cell("", style),
                cell("unreadable", style),
                cut(e.domain, style),  # the file or mail it was
                cell("", style),
                cell("", style),
                cut(e.unreadable, style),  # why, under the widest column (whole below)
                cell("", style),
            ]
        if e.sig == FAIL_MARK:  # forged or altered: its failures are not announced as real
            style = styles.FORGED
            return [
                cell(e.sig, sig_style(e.sig)),
                cell(e.date, style),
                cut(e.domain, style),
                number(e.failed, style),
                number(e.successful, style),
                cut(e.organization, style),
                cut(e.types, style),
            ]
        style = styles.FAILED if e.failed else ""
        return [
            cell(e.sig, sig_style(e.sig)),
            cell(e.date, style),
            cut(e.domain, style),
            number(e.failed, styles.failed_count(e.failed)),
            number(e.successful, "" if e.failed else styles.OK),
            cut(e.organization, style),
            cut(e.types, style),
        ]

    def _append(self, entries: Sequence[InboxEntry]) -> None:
        for e in entries:
            if e.key not in self.rows:
                self.add_row(*self._row(e), key=e.key)
                self._shown.append(e)
                self._by_key[e.key] = e

    def detail(self, key: str | None) -> Text:
        """The row's text fields uncut, for the line under the inbox (cells are cut at the
        column widths): organization, domain(s), policy types; an unreadable input's source
        and reason."""
        e = self._by_key.get(key or "")
        text = Text(no_wrap=True, overflow="ellipsis")
        if e is None:
            return text
        if e.unreadable is not None:
            text.append(clean(e.domain), style="bold")  # the mail or file it was
            text.append(f": {clean(e.unreadable)}", style=f"italic {styles.WARNING}".strip())
            return text
        text.append(clean(e.organization), style="bold")
        text.append(f" · {clean(e.domain)} · {clean(e.types)}")
        return text

    def _append_reports(self, rows: Sequence[InboxRow], want: int) -> None:
        self._append([report_entry(r) for r in rows])
        self.loaded += len(rows)
        if rows:
            self._after = (rows[-1].start, rows[-1].pk)
        if len(rows) < want:
            self.exhausted = True

    def reload(self, text_filter: str | None = None) -> None:
        """Re-read the first page(s) (all pages loaded so far when only new reports came in);
        the cursor stays on the same row key when it still exists."""
        if text_filter is not None:
            self.text_filter = text_filter
        self._fit_page()
        want = max(self.page_size, self.loaded) if text_filter is None else self.page_size
        self._generation += 1
        self.run_worker(self._reload(want, self._generation), group="inbox-load",
                        exclusive=True, exit_on_error=False)

    async def _reload(self, want: int, generation: int) -> None:
        text_filter = self.text_filter
        try:
            rows = await self.service.inbox_page(want, text_filter,
                                                 oldest_first=self.oldest_first)
            unreadable = await unreadable_for(self.service, text_filter)
        except Exception as exc:  # the table stays as it was; say why
            self.notify(f"could not read the inbox: {clean(exc)}", severity="error",
                        markup=False)
            return
        if generation != self._generation:
            return  # a newer reload is on its way
        if text_filter == self.shown_filter and [*unreadable, *map(report_entry, rows)] == (
                self._shown):
            # The same lines (a sync storing reports older than the ones shown): nothing to
            # redraw, and a rebuild would redraw every visible cell.
            return
        keep = self.current_key
        self._reloading = True
        try:
            self.clear()
            self._shown = []
            self._by_key = {}
            self.loaded = 0
            self.exhausted = False
            self._after = None
            self.shown_filter = text_filter
            self._append(unreadable)
            self._append_reports(rows, want)
        finally:
            self._reloading = False
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)
        # the cursor may stay on row 0 over another row: nothing else says it changed
        if self.row_count:
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
            self.post_message(self.RowHighlighted(self, self.cursor_row, row_key))

    def toggle_order(self) -> None:
        """Newest first ↔ oldest first; the Date header says which when it is not the usual
        newest first."""
        self.oldest_first = not self.oldest_first
        self.columns[ColumnKey("date")].label = Text("Date ↑" if self.oldest_first else "Date")
        self._clear_caches()
        self.refresh()
        self.reload(self.text_filter)

    def on_resize(self) -> None:
        """A window that grows gets its rows at once, not on the next cursor move."""
        self._fit_page()
        if self.loaded and not self.exhausted and self.row_count < self.size.height:
            self.load_more()  # only after the first page: before, reload() reads it

    def load_more(self) -> None:
        if self.exhausted or self._loading_more:
            return
        self._loading_more = True
        self.run_worker(self._load_more(self._generation), group="inbox-more",
                        exit_on_error=False)

    async def _load_more(self, generation: int) -> None:
        try:
            rows = await self.service.inbox_page(self.page_size, self.text_filter, self._after,
                                                 oldest_first=self.oldest_first)
        except Exception as exc:
            self.notify(f"could not read the inbox: {clean(exc)}", severity="error",
                        markup=False)
            return
        finally:
            self._loading_more = False
        if generation != self._generation:
            return
        self._reloading = True  # adding rows moves no cursor: no new load from the watcher
        try:
            self._append_reports(rows, self.page_size)
        finally:
            self._reloading = False

    @property
    def current_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor can sit outside a just-cleared table
            return None

    def watch_cursor_coordinate(self, old, new) -> None:  # type: ignore[no-untyped-def]
        super().watch_cursor_coordinate(old, new)
        if self._reloading or self.row_count == 0:
            return
        if not self.exhausted and new.row >= self.row_count - 10:
            self.load_more()
