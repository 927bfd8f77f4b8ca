"""The report inbox: newest first, paged from the store, failed rows standing out.

With 100,000 reports in the store the table must appear as fast as with none, so it never
loads everything: it holds one page, and fetches the next when the cursor nears the end.
Rows are keyed by the report's primary key (``r<pk>``) or the unreadable input's (``u<pk>``),
so a refresh after new mail keeps the cursor on the same report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tlsrpt_tui.ui import styles
from tlsrpt_tui.ui.text import cell, number

#: the most rows one fetch adds; a page is the terminal's height (at least MIN_PAGE) up to this
PAGE = 60
MIN_PAGE = 20


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


#: fetch(offset, limit, text_filter) -> report entries, newest first.
Fetch = Callable[[int, int, str], Sequence[InboxEntry]]
#: unreadable(text_filter) -> the inputs that could not be read (listed above the reports).
Unreadable = Callable[[str], Sequence[InboxEntry]]


class InboxTable(DataTable):
    """A DataTable over a paged query; Enter posts RowSelected with the row key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    #: Failed and OK come right after the date so they stay visible at 80 columns.
    COLUMNS = (
        ("date", "Date", 10),
        ("failed", "Failed", 6),
        ("ok", "OK", 6),
        ("org", "Organization", 22),
        ("domain", "Domain", 16),
        ("types", "Types", 9),
    )

    def __init__(
        self, fetch: Fetch, unreadable: Unreadable | None = None, **kwargs: object
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._fetch_page = fetch
        self._fetch_unreadable = unreadable
        self.text_filter = ""
        self.loaded = 0
        self.exhausted = False
        self.page_size = PAGE
        self._reloading = False

    def _fit_page(self) -> None:
        """A page is what the terminal can show, not more: every row added costs a measure
        and a render, which is most of a filter keystroke's time (bench/bench_tui.py)."""
        height = self.app.size.height if self.is_attached else 0
        self.page_size = max(MIN_PAGE, min(PAGE, height))

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            self.add_column(label, key=key, width=width)
        self.reload()

    # -- data -------------------------------------------------------------------------------

    def _row(self, e: InboxEntry) -> list[Text]:
        if e.unreadable is not None:
            style = f"italic {styles.WARNING}".strip()
            return [
                cell("unreadable", style),
                cell("", style),
                cell("", style),
                cell(e.unreadable, style),
                cell(e.domain, style),
                cell("", style),
            ]
        style = styles.FAILED if e.failed else ""
        return [
            cell(e.date, style),
            number(e.failed, styles.failed_count(e.failed)),
            number(e.successful, "" if e.failed else styles.OK),
            cell(e.organization, style),
            cell(e.domain, style),
            cell(e.types, style),
        ]

    def _append(self, entries: Sequence[InboxEntry], *, count: bool = True) -> None:
        for e in entries:
            if e.key in self.rows:
                continue
            self.add_row(*self._row(e), key=e.key)
        if count:
            self.loaded += len(entries)
            if len(entries) < self.page_size:
                self.exhausted = True

    def reload(self, text_filter: str | None = None) -> None:
        """Re-read the first page(s); the cursor stays on the same row key when it still exists."""
        if text_filter is not None:
            self.text_filter = text_filter
        self._fit_page()
        keep = self.current_key
        want = max(self.page_size, self.loaded) if text_filter is None else self.page_size
        entries = self._fetch_page(0, want, self.text_filter)
        self._reloading = True
        try:
            self.clear()
            self.loaded = 0
            self.exhausted = False
            if self._fetch_unreadable is not None:
                self._append(self._fetch_unreadable(self.text_filter), count=False)
            self._append(entries)
            if len(entries) < want:
                self.exhausted = True
        finally:
            self._reloading = False
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def load_more(self) -> None:
        if self.exhausted:
            return
        self._append(self._fetch_page(self.loaded, self.page_size, self.text_filter))

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
