"""A row-cursor DataTable whose Home and End go to the first and last row, as on every other
table of the app (Textual's own Home/End scroll sideways, which read as a broken key), whose
auto-width columns never stay drawn at their labels' width, and whose one-line text cells are
drawn without Rich's layout machinery.

Why the drawing: a DataTable draws each cell it has not drawn before as
``Styled(Padding(cell))`` through ``Console.render_lines``: five nested generators, a word wrap,
a ``Text.join`` and two line splits for a cell that is one line of at most a column's width. At
a million reports, 80-90% of a PageDown or an inbox filter keystroke went there
(bench/README.md, issue 11). Every cell here is a one-line ``Text`` in a one-line row, so
:func:`line_cell` cuts and pads it with Text's own ``justify``/``truncate`` (the same overflow
rules, "…" included) and styles the padding and the text exactly as that stack does; anything
else (headers, labels, multi-line or non-Text cells, fixed columns) takes Textual's own path.
tests/test_row_table.py compares both paths cell for cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import ClassVar, TypeVar

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.containers import Lines
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual import events
from textual.binding import BindingType
from textual.color import Color
from textual.css.styles import RenderStyles
from textual.geometry import Region, Size
from textual.render import measure
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from tlsrpt_tui.ui import keymap

_T = TypeVar("_T")


def line_cell(console: Console, cell: Text, width: int, padding: int, pre_style: Style,
              post_style: Style) -> list[Segment] | None:
    """The segments of one line of `cell` in a column `width` cells wide (padding included),
    as DataTable's ``Styled(Padding(cell, (0, padding)), pre_style, post_style)`` renders it
    with ``no_wrap``; None when the cell is not a single plain line (the caller falls back)."""
    plain = cell.plain
    inner = width - 2 * padding
    if inner < 1 or "\n" in plain or "\t" in plain:
        return None
    justify = cell.justify or "default"
    overflow = cell.overflow or "fold"
    if justify not in ("default", "left", "right") or overflow == "ignore":
        return None
    blank = pre_style + post_style  # Padding's spaces: no style of their own
    if not cell._spans:  # one style for the whole cell (the app's cells): no Text copy
        return _plain_cell(console, cell, plain, inner, padding, justify, overflow, pre_style,
                           post_style, blank)
    text = cell.copy()
    lines = Lines([text])
    lines.justify(console, inner, justify=justify, overflow=overflow)
    text.truncate(inner, overflow=overflow)
    # Text.__rich_console__ joins its lines, which turns the base style into the first span
    if text.style:
        text._spans.insert(0, Span(0, len(text), text.style))
        text.style = ""
    segments = [Segment(" " * padding, blank)] if padding else []
    add = pre_style.__add__
    for segment in text.render(console):
        style = add(segment.style)
        segments.append(Segment(segment.text, style + post_style if style else post_style))
    short = inner - text.cell_len
    if short > 0:  # render_lines pads a short line with the padding's style
        segments.append(Segment(" " * short, blank))
    if padding:
        segments.append(Segment(" " * padding, blank))
    return Segment.adjust_line_length(segments, width, style=blank, pad=True)


def _plain_cell(console: Console, cell: Text, plain: str, inner: int, padding: int, justify: str,
                overflow: str, pre_style: Style, post_style: Style,
                blank: Style) -> list[Segment]:
    """:func:`line_cell` for a Text without spans: what ``Lines.justify``, ``Text.truncate``
    and ``Text.render`` make of it, on the string alone."""
    if justify == "right":
        plain = plain.rstrip()
    length = cell_len(plain)
    if length > inner:
        plain = set_cell_size(plain, inner - 1) + "…" if overflow == "ellipsis" else \
            set_cell_size(plain, inner)
        length = inner
    fill = inner - length
    if fill and justify == "right":
        plain, fill = " " * fill + plain, 0
    elif fill and justify == "left":
        plain, fill = plain + " " * fill, 0
    own = console.get_style(cell.style) if cell.style else None
    style = pre_style + own
    segments = [Segment(" " * padding, blank)] if padding else []
    segments.append(Segment(plain, style + post_style if style else post_style))
    if fill:
        segments.append(Segment(" " * fill, blank))
    if padding:
        segments.append(Segment(" " * padding, blank))
    return segments


class _FrameStyles:
    """A component's styles for the length of one frame: its ``rich_style`` (a walk over every
    ancestor's CSS) read once, the rest passed through."""

    def __init__(self, styles: RenderStyles) -> None:
        self._styles = styles

    @cached_property
    def rich_style(self) -> Style:
        return self._styles.rich_style

    def __getattr__(self, name: str) -> object:
        return getattr(self._styles, name)


def grown_widths(base: Mapping[str, int], room: int, grow: Sequence[tuple[str, int]],
                 padding: int = 1, shrink: Sequence[tuple[str, int]] = ()) -> dict[str, int]:
    """Column widths for a table ``room`` cells wide: every column its base width, and what
    is left over given to the ``grow`` columns in order, each up to its cap (0: no cap), so a
    wide terminal shows whole organization names instead of the 80-column cut; when the base
    widths do not fit, the ``shrink`` columns give up cells down to their floor, so that no
    column hides behind a sideways scroll."""
    out = dict(base)
    extra = room - sum(base.values()) - 2 * padding * len(base)
    for key, cap in grow:
        if extra <= 0:
            break
        add = min(cap, extra) if cap else extra
        out[key] += add
        extra -= add
    for key, floor in shrink:
        if extra >= 0:
            break
        take = max(0, min(out[key] - floor, -extra))
        out[key] -= take
        extra += take
    return out


class RowTable(DataTable):
    KEYMAP = "rows"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    #: text columns (key, most cells added; 0: the rest) that take the room a wider table
    #: has, in order; their base widths are the ones they were added with
    grow: tuple[tuple[str, int], ...] = ()
    #: columns (key, narrowest) that give up cells when the base widths do not fit
    shrink: tuple[tuple[str, int], ...] = ()
    _base_widths: dict[str, int] | None = None

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """Widen the ``grow`` columns to the table's width (or back to their base widths)."""
        if not self.grow or not self.columns:
            return
        if self._base_widths is None:
            self._base_widths = {str(key.value): column.width
                                 for key, column in self.columns.items()}
        room = self.size.width - self.styles.scrollbar_size_vertical
        self.set_widths(grown_widths(self._base_widths, room, self.grow, self.cell_padding,
                                     self.shrink))

    def set_widths(self, widths: Mapping[str, int]) -> None:
        """New fixed widths for these columns (by key); the cells are drawn again."""
        changed = False
        for key, width in widths.items():
            column = self.columns.get(ColumnKey(key))
            if column is not None and column.width != width:
                column.width = width
                changed = True
        if changed:
            self._clear_caches()
            self._update_count += 1
            self._require_update_dimensions = True
            self.refresh()

    async def _on_idle(self, event: events.Idle) -> None:
        """DataTable measures new rows' column widths when idle, but keeps the cells and lines
        it drew before at the old widths (its render caches are keyed by an update counter
        that measuring does not advance). On a loaded machine a frame drawn between add_row
        and idle then stays: every auto-width column cut at its label ("examp…"). Drop those
        caches when measuring changed a width a column is drawn at (a fixed-width column's
        content width changes nothing drawn)."""
        before = self._drawn_widths()
        await super()._on_idle(event)
        if self._drawn_widths() != before:
            self._clear_caches()
            self.refresh()

    def _drawn_widths(self) -> list[int]:
        return [column.get_render_width(self) for column in self.ordered_columns]

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """DataTable's cell drawing, with one-line Text cells in one-line rows drawn by
        :func:`line_cell` (the module docstring says why); cached under DataTable's own key."""
        if row_index < 0 or column_index < 0 or row_index < self.fixed_rows \
                or column_index < self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                     self._update_count, self._pseudo_class_state)
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row = self.rows.get(row_key) if row_key is not None else None
        cells = self._get_row_renderables(row_index).cells
        cell = cells[column_index] if column_index < len(cells) else None
        line = None
        if row is not None and row.height == 1 and not row.auto_height \
                and isinstance(cell, Text):
            component_style, post_style = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css")
            pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index})
            line = line_cell(self.app.console, cell, width, self.cell_padding,
                             pre_style + component_style, post_style)
        if line is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        lines = [line]
        self._cell_render_cache[cache_key] = lines
        return lines

    # -- per-frame style caches ------------------------------------------------------------
    # DataTable asks for its own style, background and component (header, row) styles once
    # per line drawn, and each answer walks every ancestor's CSS; within one render_lines call
    # they cannot change.

    _frame: dict[object, object] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame = {}
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _in_frame(self, key: object, compute: Callable[[], _T]) -> _T:
        frame = self._frame
        if frame is None:
            return compute()
        if key not in frame:
            frame[key] = compute()
        return frame[key]  # type: ignore[return-value]

    @property
    def rich_style(self) -> Style:
        return self._in_frame("rich_style", lambda: DataTable.rich_style.fget(self))  # type: ignore[attr-defined]

    @property
    def background_colors(self) -> tuple[Color, Color]:
        return self._in_frame("background_colors",
                              lambda: DataTable.background_colors.fget(self))  # type: ignore[attr-defined]

    def get_component_styles(self, *names: str) -> RenderStyles:
        if self._frame is None:
            return super().get_component_styles(*names)
        return self._in_frame(("component", names), lambda: _FrameStyles(  # type: ignore[arg-type,return-value]
            super(RowTable, self).get_component_styles(*names)))

    # -- measuring ----------------------------------------------------------------------------

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable's, for one-line rows without labels: a one-line Text cell's width is its
        plain text's, where Textual's ``measure`` builds console options (a terminal-size
        system call) and splits the text into words for every cell of every new row."""
        new_rows = list(new_rows)
        for row_key in new_rows:
            row = self.rows.get(row_key)
            if row is not None and (row.auto_height or row.label is not None or row.height != 1):
                super()._update_dimensions(new_rows)
                return
        console = self.app.console
        columns = self.ordered_columns
        for row_key in new_rows:
            row_index = self._row_locations.get(row_key)
            if row_index is None:  # removed before idle
                continue
            for column, renderable in zip(columns, self._get_row_renderables(row_index).cells,
                                          strict=False):
                if isinstance(renderable, Text) and renderable.plain.isprintable():
                    width = cell_len(renderable.plain)
                else:
                    width = measure(console, renderable, 1)
                if width > column.content_width:
                    column.content_width = width
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            sum(column.get_render_width(self) for column in self.columns.values())
            + self._row_label_column_width,
            self._total_row_height + header_height)

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        """The last row held (a paged table loads its next page when the cursor gets there)."""
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
