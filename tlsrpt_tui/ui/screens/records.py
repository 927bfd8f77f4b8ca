"""The records to publish for one domain, beside what is published now (``tlsrpt-tui records``).

The live check runs in an async worker through the injected service (the same resolver, CA
settings and probe as the DNS status checks); the demo builds from the stored check instead.
Nothing is written: ``c`` copies the zone lines and the policy file to the terminal's
clipboard (OSC 52), ``m`` switches the proposed MTA-STS mode.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from tlsrpt_tui.core.records import describe
from tlsrpt_tui.service.config import CheckSettings
from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.text import clean, styled_lines
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter

_STYLES = {"head": "bold", "item": "bold", "label": "dim", "zone": "cyan", "policy": "cyan",
           "diff": "yellow", "advice": "dim italic", "note": "yellow", "verdict": "bold"}


def records_text(result: Any) -> Text:
    verdict = "bold green" if result.changes == 0 else "bold yellow"
    return styled_lines(describe(result), dict(_STYLES, verdict=verdict))


class RecordsScreen(Screen):
    KEYMAP = "records"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, service: ReportService, domain: str, settings: CheckSettings,
                 clock: Callable[[], datetime], *, live: bool = True,
                 mode: str | None = None) -> None:
        """``live=False`` (the demo): from the last stored check, no lookups."""
        super().__init__()
        self.service = service
        self.settings = settings
        self.clock = clock
        self.live = live
        self.domain = domain
        self.mode = mode
        self.result: Any | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="records-body"):
            yield Static(Text("checking…", style="dim"), id="records-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._title()
        self.load()

    def _title(self) -> None:
        mode = f" · mode {self.mode}" if self.mode else ""
        self.sub_title = f"Records to publish · {clean(self.domain)}{mode}"

    @work(exclusive=True, group="records", exit_on_error=False)
    async def load(self) -> None:
        body = self.query_one("#records-text", Static)
        body.update(Text(f"checking {clean(self.domain)}…", style="dim"))
        try:
            result = await self.service.records(self.domain, self.mode, self.settings,
                                                self.clock(), live=self.live)
        except Exception as exc:  # a bad domain, no resolver: said on the screen
            body.update(Text(f"could not build the records: {clean(exc)}", style="bold red"))
            return
        self.result = result
        if result is None:
            body.update(Text(f"{clean(self.domain)} has not been checked yet: press r on the "
                             "dashboard first", style="yellow"))
            return
        body.update(records_text(result))

    def action_mode(self) -> None:
        self.mode = "enforce" if self.mode in (None, "testing") else "testing"
        self._title()
        self.load()

    def action_copy(self) -> None:
        if self.result is None:
            self.app.notify("nothing to copy yet")
            return
        zone = [line for item in self.result.items for line in item.zone]
        policy = self.result.policy_text
        payload = "\n".join(zone) + "\n" + (f"\n; {self.result.domain} policy file:\n"
                                            + policy if policy else "")
        self.app.copy_to_clipboard(payload)
        self.app.notify(f"copied {len(zone)} zone line(s) and the policy file", markup=False)
