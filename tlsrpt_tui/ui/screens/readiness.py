"""Enforce readiness of one domain: "can I switch MTA-STS to enforce?", "what does it cost?".

The answer comes from ``service.readiness`` through the injected service, which runs the SQL
aggregates off the loop; the screen only draws the lines of ``core.readiness.describe``,
styled by kind, and re-reads when the window changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from tlsrpt_tui.core.readiness import describe
from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.live import CheckView, LiveState
from tlsrpt_tui.ui.messages import OpenRecords
from tlsrpt_tui.ui.text import clean, styled_lines
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter

WINDOWS = (30, 90, 7)
_VERDICT_STYLE = {"failing": "bold red", "clean": "bold green", "fixed": "bold green",
                  "too-little-data": "bold yellow", "no-reports": "bold yellow",
                  "no-policy": "bold yellow", "unaffected": "bold"}
_STYLES = {"summary": "bold", "figures": "dim", "section": "underline", "cause": "",
           "live": "italic", "reporter": "", "note": "yellow"}


def readiness_text(answers: list[Any]) -> Text:
    text = Text()
    for i, answer in enumerate(answers):
        if i:
            text.append("\n\n")
        styles = dict(_STYLES, head=_VERDICT_STYLE.get(answer.verdict, "bold"))
        text.append_text(styled_lines(describe(answer), styles))
    return text


class ReadinessScreen(Screen):
    KEYMAP = "readiness"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, service: ReportService, domain: str | None,
                 configured: tuple[str, ...] = (), clock: Callable[[], datetime] | None = None,
                 days: int = WINDOWS[0], live: LiveState | None = None) -> None:
        """``domain``: one domain, or None for the ``configured`` ones (every reported domain
        when none is configured). ``live``: the app's state; the answer is read again when a
        check of the domain finishes or new reports are stored, so it is always today's."""
        super().__init__()
        self.live = live
        self.service = service
        self.configured = configured
        self.clock = clock or (lambda: datetime.now(UTC))
        self.domain = domain
        self.days = days
        self.answers: list[Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="readiness-body"):
            yield Static(Text("reading the reports…", style="dim"), id="readiness-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._title()
        self.load()
        if self.live is not None:
            self.live.check_changed.subscribe(self, self._check_changed)
            self.live.reports_changed.subscribe(self, lambda _version: self.load())

    def _check_changed(self, view: CheckView) -> None:
        if view.checking or view.status is None:
            return
        if self.domain is None or view.domain == self.domain:
            self.load()

    def _title(self) -> None:
        who = clean(self.domain) if self.domain else "all domains"
        self.sub_title = f"Enforce readiness · {who} · last {self.days} days"

    @work(exclusive=True, group="readiness", exit_on_error=False)
    async def load(self) -> None:
        domains = [self.domain] if self.domain else (list(self.configured) or None)
        today = self.clock().astimezone(UTC).date()
        try:
            answers = await self.service.readiness(domains, today, self.days)
        except Exception as exc:  # shown on the screen, never a crash
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        self._show(answers)

    def _show(self, answers: list[Any]) -> None:
        self.answers = answers
        body = self.query_one("#readiness-text", Static)
        if answers:
            body.update(readiness_text(answers))
        else:
            body.update(Text(f"no reports in the last {self.days} days", style="yellow"))

    def _failed(self, error: str) -> None:
        self.query_one("#readiness-text", Static).update(
            Text(f"could not read the reports: {clean(error)}", style="bold red"))

    def action_window(self) -> None:
        self.days = WINDOWS[(WINDOWS.index(self.days) + 1) % len(WINDOWS)] \
            if self.days in WINDOWS else WINDOWS[0]
        self._title()
        self.load()

    def action_records(self) -> None:
        if self.domain:
            self.post_message(OpenRecords(self.domain))
        else:
            self.app.notify("choose a domain first (Tab to its card on the dashboard)")
