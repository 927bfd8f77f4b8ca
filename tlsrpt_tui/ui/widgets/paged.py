"""A DataTable over a long ordered list of keys that holds only a window of rows.

The Overview and Policy Summary hold one row per report or policy: 100,000s on a busy store.
A DataTable keeps every row it is given (cells, render caches), so filling it with all of them
costs seconds and hundreds of MiB. This table keeps only the row keys (8 bytes each, in an
``array``) and builds the cells of a window of rows around the cursor (three screen heights,
at least WINDOW); moving past either end of the window (arrows, PageUp/PageDown, Home/End)
rebuilds it around the new position: one by-key query and that many new DataTable rows, whose
measuring dominates the cost, so the window is kept small. A footer row (the Total) follows
the last key once it is known.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

#: the fewest rows held in the DataTable at once (more on a tall terminal: 3 screen heights)
WINDOW = 100

#: build(keys) -> [(row key, cells)] for those keys, in the same order
Build = Callable[[Sequence[int]], list[tuple[str, list[Text]]]]


class PagedTable(DataTable):
    """A row-cursor DataTable whose rows are `keys` (built on demand) plus an optional footer.

    ``position`` is the cursor's index over all rows (keys first, then the footer); the
    DataTable's own ``cursor_row`` is relative to ``first_row``, the window's first row.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "first", "First row", show=False),
        Binding("end", "last", "Last row", show=False),
        Binding("ctrl+home", "first", "First row", show=False),
        Binding("ctrl+end", "last", "Last row", show=False),
    ]

    def __init__(self, build: Build, window: int = WINDOW, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._build = build
        self.window = window
        self.keys: array[int] = array("q")
        self.footer: list[Text] | None = None
        self.first_row = 0
        #: how many windows were built (tests and the benchmark read it)
        self.builds = 0

    # -- content ---------------------------------------------------------------------------

    @property
    def total_rows(self) -> int:
        """All rows, not just the window: keys plus the footer when it is there."""
        return len(self.keys) + (1 if self.footer is not None else 0)

    @property
    def position(self) -> int:
        return self.first_row + self.cursor_row

    def set_keys(self, keys: array[int], footer: list[Text] | None = None) -> None:
        """Show these keys from the top (a new load). The loader may keep appending to `keys`
        afterwards: the rows are there as soon as the cursor moves to them."""
        self.keys = keys
        self.footer = footer
        self.first_row = 0
        self._fill()

    def set_footer(self, footer: list[Text]) -> None:
        """The footer (Total), once every key is known; shown at once if the window ends at
        the last key, else when the cursor gets there."""
        self.footer = footer
        if self.first_row + self.row_count == len(self.keys):
            self.add_row(*footer, key="footer")

    def _fill(self) -> None:
        """Rebuild the window: `window` keys from first_row, and the footer when the last key
        is among them (so a table that fits in one window holds all its rows)."""
        self.builds += 1
        self._size_window()
        self.clear()
        key_end = min(self.first_row + self.window, len(self.keys))
        if self.first_row < key_end:
            for key, cells in self._build(self.keys[self.first_row:key_end]):
                self.add_row(*cells, key=key)
        if self.footer is not None and key_end == len(self.keys):
            self.add_row(*self.footer, key="footer")

    def _size_window(self) -> None:
        if self.is_attached:
            self.window = max(self.window, 3 * self.app.size.height)

    def show_row(self, position: int) -> None:
        """Put the cursor on row `position` of all rows, moving the window if it is outside."""
        if self.total_rows == 0:
            return
        position = max(0, min(position, self.total_rows - 1))
        if not self.first_row <= position < self.first_row + self.row_count:
            self._size_window()
            half = self.window // 2
            self.first_row = max(0, min(position - half, self.total_rows - self.window))
            self._fill()
        self.move_cursor(row=position - self.first_row, animate=False)

    # -- keys -------------------------------------------------------------------------------

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_height)

    def action_cursor_down(self) -> None:
        if self.cursor_row >= self.row_count - 1 and self.position + 1 < self.total_rows:
            self.show_row(self.position + 1)
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row == 0 and self.first_row > 0:
            self.show_row(self.position - 1)
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        target = self.position + self._page_height()
        if target < self.first_row + self.row_count or self.first_row + self.row_count >= \
                self.total_rows:
            super().action_page_down()
        else:
            self.show_row(target)

    def action_page_up(self) -> None:
        target = self.position - self._page_height()
        if target >= self.first_row or self.first_row == 0:
            super().action_page_up()
        else:
            self.show_row(target)

    def action_first(self) -> None:
        self.show_row(0)

    def action_last(self) -> None:
        self.show_row(self.total_rows - 1)
