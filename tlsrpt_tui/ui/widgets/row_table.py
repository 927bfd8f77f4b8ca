"""A row-cursor DataTable whose Home and End go to the first and last row, as on every other
table of the app (Textual's own Home/End scroll sideways, which read as a broken key)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        """The last row held (a paged table loads its next page when the cursor gets there)."""
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
