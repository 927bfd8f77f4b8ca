"""A DataTable over a long ordered list of keys that holds only a window of rows.

The Overview and Policy Summary hold one row per report or policy: 100,000s on a busy store.
A DataTable keeps every row it is given (cells, render caches), so filling it with all of them
costs seconds and hundreds of MiB. This table keeps only the row keys (8 bytes each, in an
``array``) and builds the cells of a window of rows (SCREENS screen heights, at least WINDOW);
moving past either end of the window (arrows, PageUp/PageDown, Home/End) rebuilds it at the new
position: one by-key query (awaited, run off the loop by the caller's service) and that many
new DataTable rows. A window moved down keeps one page above the cursor and the rest below it
(moved up: the mirror image), so a walk with PageDown rebuilds once every few pages and the keys
in between only move the cursor and draw the new rows (RowTable draws cells cheaply). A footer
row (the Total) follows the last key once it is known.
"""

from __future__ import annotations

from array import array
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType

from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.text import clean
from tlsrpt_tui.ui.widgets.row_table import RowTable

#: the fewest rows held in the DataTable at once (more on a tall terminal: SCREENS heights)
WINDOW = 100
SCREENS = 5

#: build(keys) -> [(row key, cells)] for those keys, in the same order (awaited: the rows are
#: read off the event loop)
Build = Callable[[Sequence[int]], Awaitable[list[tuple[str, list[Text]]]]]


class PagedTable(RowTable):
    """A row-cursor DataTable whose rows are `keys` (built on demand) plus an optional footer.

    ``position`` is the cursor's index over all rows (keys first, then the footer); the
    DataTable's own ``cursor_row`` is relative to ``first_row``, the window's first row.
    """

    KEYMAP = "rows"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, build: Build, window: int = WINDOW, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._build = build
        self.window = window
        self.keys: array[int] = array("q")
        self.footer: list[Text] | None = None
        self.first_row = 0
        #: how many windows were built (tests and the benchmark read it)
        self.builds = 0
        #: the position a window being read will put the cursor on
        self._pending: int | None = None

    # -- content ---------------------------------------------------------------------------

    @property
    def total_rows(self) -> int:
        """All rows, not just the window: keys plus the footer when it is there."""
        return len(self.keys) + (1 if self.footer is not None else 0)

    @property
    def position(self) -> int:
        """The cursor's row over all rows (where it is going while a window is being read)."""
        if self._pending is not None:
            return self._pending
        return self.first_row + self.cursor_row

    @property
    def settled(self) -> bool:
        """No window is being read: the rows on screen are the ones at the cursor."""
        return self._pending is None

    def set_keys(self, keys: array[int], footer: list[Text] | None = None) -> None:
        """Show these keys from the top (a new load). The loader may keep appending to `keys`
        afterwards: the rows are there as soon as the cursor moves to them."""
        self.keys = keys
        self.footer = footer
        self._move_window(0, 0)

    def set_footer(self, footer: list[Text]) -> None:
        """The footer (Total), once every key is known; shown at once if the window ends at
        the last key, else when the cursor gets there."""
        self.footer = footer
        if self._pending is None and self.first_row + self.row_count == len(self.keys):
            self.add_row(*footer, key="footer")

    def _move_window(self, first_row: int, position: int) -> None:
        """Rebuild the window from `first_row` (its rows are read off the loop), then put the
        cursor on `position`; a newer move supersedes one still reading."""
        self._pending = position
        self.run_worker(self._fill(first_row, position), group="paged-window", exclusive=True,
                        exit_on_error=False)

    async def _fill(self, first_row: int, position: int) -> None:
        """`window` keys from first_row, and the footer when the last key is among them (so a
        table that fits in one window holds all its rows)."""
        self.builds += 1
        self._size_window()
        key_end = min(first_row + self.window, len(self.keys))
        try:
            rows = await self._build(self.keys[first_row:key_end]) if first_row < key_end else []
        except Exception as exc:  # the old window stays; say why
            self._pending = None
            self.notify(f"could not read the rows: {clean(exc)}", severity="error",
                        markup=False)
            return
        self.clear()
        self.first_row = first_row
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if self.footer is not None and key_end == len(self.keys):
            self.add_row(*self.footer, key="footer")
        self._pending = None
        if self.row_count:
            row = max(0, min(position - first_row, self.row_count - 1))
            self.move_cursor(row=row, animate=False)

    def _size_window(self) -> None:
        if self.is_attached:
            self.window = max(self.window, SCREENS * self.app.size.height)

    def show_row(self, position: int) -> None:
        """Put the cursor on row `position` of all rows, moving the window if it is outside."""
        if self.total_rows == 0:
            return
        position = max(0, min(position, self.total_rows - 1))
        if self._pending is None and \
                self.first_row <= position < self.first_row + self.row_count:
            self.move_cursor(row=position - self.first_row, animate=False)
            return
        self._size_window()
        page = self._page_height()
        if position >= self.first_row + self.row_count:
            # going down: the new window keeps one page above the cursor and runs on below
            # it, so the next PageDowns (the usual walk) stay inside it
            first = position - page
        else:  # going up: the mirror image
            first = position - self.window + page + 1
        self._move_window(max(0, min(first, self.total_rows - self.window)), position)

    # -- keys -------------------------------------------------------------------------------

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_height)

    def action_cursor_down(self) -> None:
        self.show_row(self.position + 1)

    def action_cursor_up(self) -> None:
        self.show_row(self.position - 1)

    def action_page_down(self) -> None:
        self.show_row(self.position + self._page_height())

    def action_page_up(self) -> None:
        self.show_row(self.position - self._page_height())

    def action_first_row(self) -> None:
        self.show_row(0)

    def action_last_row(self) -> None:
        self.show_row(self.total_rows - 1)
