"""A row-cursor DataTable whose Home and End go to the first and last row, as on every other
table of the app (Textual's own Home/End scroll sideways, which read as a broken key), and whose
auto-width columns never stay drawn at their labels' width."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import BindingType
from textual.widgets import DataTable

from tlsrpt_tui.ui import keymap


class RowTable(DataTable):
    KEYMAP = "rows"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    async def _on_idle(self, event: events.Idle) -> None:
        """DataTable measures new rows' column widths when idle, but keeps the cells and lines
        it drew before at the old widths (its render caches are keyed by an update counter
        that measuring does not advance). On a loaded machine a frame drawn between add_row
        and idle then stays: every auto-width column cut at its label ("examp…"). Drop those
        caches when measuring changed a width."""
        before = [column.content_width for column in self.ordered_columns]
        await super()._on_idle(event)
        if [column.content_width for column in self.ordered_columns] != before:
            self._clear_caches()
            self.refresh()

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        """The last row held (a paged table loads its next page when the cursor gets there)."""
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
