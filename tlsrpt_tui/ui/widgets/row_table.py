"""A row-cursor DataTable whose Home and End go to the first and last row, as on every other
table of the app (Textual's own Home/End scroll sideways, which read as a broken key)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType
from textual.widgets import DataTable

from tlsrpt_tui.ui import keymap


class RowTable(DataTable):
    KEYMAP = "rows"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        """The last row held (a paged table loads its next page when the cursor gets there)."""
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
