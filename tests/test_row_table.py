"""RowTable draws one-line Text cells without Rich's layout stack; what it draws must be what
Textual's own DataTable path draws, character for character and style for style: plain and
styled cells, spans, right-justified counts, cells cut with "…" or folded, wide characters,
empty cells, the cursor row and a fixed column (which keeps Textual's path)."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from tlsrpt_tui.ui.widgets import row_table
from tlsrpt_tui.ui.widgets.row_table import RowTable, line_cell


def _cells() -> list[list[Text | str]]:
    long = "a-rather-long-domain-name.example.org"
    spans = Text("mixed ")
    spans.append("bold", style="bold red")
    spans.append(" tail", style="italic")
    return [
        [Text("plain"), Text("1,234", justify="right"), Text(long), Text("x", style="on red")],
        [Text("例子例子例子例子例子"), Text("", justify="right", style="on red"),
         Text(long, justify="left", overflow="ellipsis"), Text("y", justify="left", style="u")],
        [Text(long, overflow="ellipsis"), Text("", style="bold"), spans,
         Text("12", style="bold #ff0000", justify="right")],
        [Text("例子例子例子例子例子", overflow="ellipsis"),
         Text("ab", justify="left", style="on blue"),
         Text(long, style="underline", overflow="crop"), Text("[b]not markup[/b]")],
        [Text("unreadable", style="italic yellow"),
         Text("9" * 12 + "  ", justify="right", style="on green"),
         Text("✓", style="green"), Text("é" * 30, overflow="ellipsis")],
        # a multi-line, a tab and a centred cell take Textual's own path
        ["[b]str[/b]", Text("two\nlines"), Text("tab\there"), Text("c", justify="center")],
    ]


class TableApp(App[None]):
    def __init__(self, fixed_columns: int = 0) -> None:
        super().__init__()
        self.fixed = fixed_columns

    def compose(self) -> ComposeResult:
        yield RowTable(cursor_type="row", zebra_stripes=True, fixed_columns=self.fixed)

    def on_mount(self) -> None:
        table = self.query_one(RowTable)
        table.add_column("First", width=12)
        table.add_column("Count", key="count")  # auto width
        table.add_column("Domain", width=20)
        table.add_column("Last", width=8)
        for i, row in enumerate(_cells()):
            table.add_row(*row, key=f"r{i}")


def _chars(lines: list[list[Segment]]) -> list[tuple[str, object]]:
    """Each character with its style: segment boundaries are not what the user sees."""
    return [(ch, seg.style) for line in lines for seg in line for ch in seg.text]


async def _compare(fixed_columns: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(cells compared, cells drawn by line_cell)."""
    drawn = []

    def counting(*args: object) -> list[Segment] | None:
        segments = line_cell(*args)  # type: ignore[arg-type]
        drawn.extend([segments] if segments is not None else [])
        return segments

    monkeypatch.setattr(row_table, "line_cell", counting)
    app = TableApp(fixed_columns)
    compared = 0
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(RowTable)
        table.move_cursor(row=1)
        await pilot.pause()
        for row_index in range(table.row_count):
            row_style = table._get_row_style(row_index, table.rich_style)
            for column_index, column in enumerate(table.ordered_columns):
                for cursor in (False, True):
                    width = column.get_render_width(table)
                    table._clear_caches()
                    fast = table._render_cell(row_index, column_index, row_style, width, cursor)
                    table._clear_caches()
                    slow = DataTable._render_cell(table, row_index, column_index, row_style,
                                                  width, cursor)
                    assert _chars(fast) == _chars(slow), (row_index, column_index, cursor)
                    compared += 1
        assert table._get_cell_region(Coordinate(1, 0)).width == 12 + 2  # the padding
        drawn.clear()
        for row_index in range(table.row_count):
            row_style = table._get_row_style(row_index, table.rich_style)
            for column_index, column in enumerate(table.ordered_columns):
                table._render_cell(row_index, column_index, row_style,
                                   column.get_render_width(table))
    return compared, len(drawn)


async def test_fast_cells_match_textuals_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    # all but the multi-line, tab and centred cells of the last row take the fast path (a
    # str cell is Text once Textual has read its markup)
    assert await _compare(0, monkeypatch) == (6 * 4 * 2, 5 * 4 + 1)


async def test_fixed_columns_still_match(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await _compare(1, monkeypatch) == (6 * 4 * 2, 5 * 3)  # not the fixed column


def test_line_cell_cuts_with_an_ellipsis() -> None:
    from rich.console import Console
    from rich.style import Style

    null = Style.null()
    segments = line_cell(Console(), Text("abcdefghij", overflow="ellipsis"), 8, 1, null, null)
    assert segments is not None
    assert "".join(s.text for s in segments) == " abcde… "
    right = line_cell(Console(), Text("42", justify="right"), 8, 1, null, null)
    assert right is not None and "".join(s.text for s in right) == "     42 "
    assert line_cell(Console(), Text("a\nb"), 8, 1, null, null) is None


def test_grown_widths_give_the_room_in_order_and_shrink_to_fit() -> None:
    """A wider table widens the text columns in order, each up to its cap, the last one
    taking the rest; a narrower one takes cells from the shrink columns down to their floor
    (never below), so every column stays on screen where it can."""
    base = {"date": 10, "domain": 14, "org": 20, "types": 9}
    grow = (("domain", 16), ("types", 6), ("org", 0))
    shrink = (("types", 5), ("org", 12))
    fits = sum(base.values()) + 2 * len(base)  # the cell padding: one cell each side
    assert row_table.grown_widths(base, fits, grow, 1, shrink) == base
    wide = row_table.grown_widths(base, fits + 50, grow, 1, shrink)
    assert wide == {"date": 10, "domain": 30, "org": 48, "types": 15}
    assert row_table.grown_widths(base, fits + 10, grow, 1, shrink)["domain"] == 24
    narrow = row_table.grown_widths(base, fits - 8, grow, 1, shrink)
    assert narrow == {"date": 10, "domain": 14, "org": 16, "types": 5}
    tiny = row_table.grown_widths(base, 20, grow, 1, shrink)
    assert tiny["org"] == 12 and tiny["types"] == 5 and tiny["date"] == 10
