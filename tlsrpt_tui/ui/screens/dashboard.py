"""The dashboard: DNS status and 30-day totals on the left; sync line and inbox on the right."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from tlsrpt_tui.service.queries import ONLY_FAILING
from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.export import ExportSource
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.live import LiveState
from tlsrpt_tui.ui.messages import OpenRawInput, OpenReport
from tlsrpt_tui.ui.widgets.inbox import InboxTable
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter
from tlsrpt_tui.ui.widgets.status_panel import StatusPanel
from tlsrpt_tui.ui.widgets.sync_line import SyncLine
from tlsrpt_tui.ui.widgets.totals import DomainTotals


class DashboardScreen(Screen):
    """Everything on it follows the app's live state and reads through the injected service:
    the cards and the sync line follow the state, the inbox and the charts re-read when new
    reports were stored."""

    KEYMAP = "dashboard"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(
        self,
        service: ReportService,
        live: LiveState,
        domains: tuple[str, ...],
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__()
        self.service = service
        self.live = live
        self.domains = domains
        self.clock = clock

    #: below this width the status panel is one line per domain (see app.tcss)
    NARROW = 100


    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="dash"):
            with VerticalScroll(id="left"):
                yield StatusPanel(self.domains, self.live, clock=self.clock, id="status")
                yield DomainTotals(self.service, self.domains, self._today, self.live,
                                   id="totals")
            with Vertical(id="right"):
                yield SyncLine(self.live, id="sync")
                yield Input(placeholder="filter: organization, domain, report-id, result type…",
                            id="filter")
                yield InboxTable(self.service, self.live, id="inbox")
                yield Static(id="inbox-detail")
        yield KeysFooter()

    def _today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_status(event.size.width)

    def on_screen_resume(self) -> None:
        self._fit_status()

    def _lay_out_for_terminal(self) -> None:
        """The app's breakpoint class and the panel's compact lines from the first frame.
        Textual sets the class on the screen's first Resize, after a first layout in the wide
        arrangement: at 80 columns a frame then showed the full-width inbox with its columns
        cut for the 48-column pane it had just been (a capture of that frame failed the tmux
        test: "Microsoft Co" cut to "Microsoft C…")."""
        width = self.app.size.width
        classes = {name: False for _, name in self.app.HORIZONTAL_BREAKPOINTS}
        for start, name in sorted(self.app.HORIZONTAL_BREAKPOINTS, reverse=True):
            if width >= start:
                classes[name] = True
                break
        self.update_classes(classes, animate=False)
        self._fit_status(width)

    def _fit_status(self, width: int | None = None) -> None:
        """One line per domain below NARROW columns. Why the terminal's width, not the
        screen's own size: a screen is laid out only once it is shown, so a Resize handled
        before that could read a stale size and leave the panel compact on a wide terminal,
        with no later Resize to mend it (not seen happen; the width is the certain value)."""
        width = self.app.size.width if width is None else width
        compact = width < self.NARROW and not self.has_class("-zoom-left")
        self.query_one(StatusPanel).set_compact(compact)

    def action_zoom(self) -> None:
        """z: the pane holding the focus fills the screen; z again shows both."""
        if self.has_class("-zoom-left") or self.has_class("-zoom-right"):
            self.remove_class("-zoom-left", "-zoom-right")
        else:
            left = self.query_one("#left")
            focused = self.focused
            inside = focused is not None and (focused is left or left in focused.ancestors)
            self.add_class("-zoom-left" if inside else "-zoom-right")
        self._fit_status()

    def on_mount(self) -> None:
        self._lay_out_for_terminal()
        self.sub_title = "Dashboard"
        self.query_one("#filter", Input).display = False
        self.query_one(InboxTable).focus()

    # -- inbox ---------------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The cursor row's organization, domains and types uncut (fixed height: no layout
        pass per cursor move)."""
        inbox = self.query_one(InboxTable)
        if event.data_table is inbox:
            key = event.row_key.value if event.row_key else None
            self.query_one("#inbox-detail", Static).update(inbox.detail(key), layout=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value or ""
        if key.startswith("r"):
            self.post_message(OpenReport(int(key[1:])))
        elif key.startswith("u"):
            self.post_message(OpenRawInput(int(key[1:])))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one(InboxTable).reload("")
            self.query_one(InboxTable).focus()

    def action_sort(self) -> None:
        """S: the inbox's reports oldest first ↔ newest first (the header reads Date ↑)."""
        self.query_one(InboxTable).toggle_order()

    def action_only_failing(self) -> None:
        """x: the reports with failed sessions ↔ every row, as the ``only:failing`` token of
        the inbox filter, so the box says it is applied and the export writes the same rows."""
        box = self.query_one("#filter", Input)
        words = box.value.split()
        if ONLY_FAILING in (w.casefold() for w in words):
            words = [w for w in words if w.casefold() != ONLY_FAILING]
        else:
            words.append(ONLY_FAILING)
        box.value = " ".join(words)  # Input.Changed reloads the inbox
        box.display = bool(words)
        self.query_one(InboxTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(InboxTable).reload(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one(InboxTable).focus()

    def export_source(self) -> ExportSource:
        """Every inbox row matching the filter (not just the rows loaded on screen), the
        unreadable inputs with their reason and source in their own columns; read and
        written by the service."""
        text_filter = self.query_one(InboxTable).text_filter

        async def write(path: Path, fmt: str, overwrite: bool) -> int:
            return await self.service.export_inbox(text_filter, fmt, path, overwrite)

        return ExportSource("inbox", write)
