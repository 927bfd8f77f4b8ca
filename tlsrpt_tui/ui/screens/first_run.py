"""The first-run screen: nothing configured and nothing stored yet, so say how to start."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.text import clean
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter

EXAMPLE = """domains = ["example.com"]

[checks]
interval = 3600            # seconds between re-checks

[[accounts]]
name = "reports"
host = "imap.example.com"
username = "tlsrpt@example.com"
password_env = "TLSRPT_IMAP_PASSWORD"
folders = ["INBOX"]
"""


def first_run_text(config_path: Path) -> Text:
    text = Text()
    text.append("Welcome to tlsrpt-tui\n\n", style="bold")
    text.append("Nothing is configured yet. Create the config file:\n\n")
    text.append(f"  {clean(config_path)}\n\n", style="bold")
    text.append("1. Add the domains to watch (their TLS-RPT, MTA-STS, MX, DANE and STARTTLS\n"
                "   are checked live):\n")
    text.append("2. Add the IMAP account that receives your TLS-RPT reports (the rua=mailto:\n"
                "   address of your _smtp._tls record):\n\n")
    text.append(EXAMPLE, style="green")
    text.append("\nThen restart tlsrpt-tui. Reports can also be imported from files with\n"
                "  tlsrpt-tui import PATH...\n"
                "and `tlsrpt-tui --demo` shows the app on bundled demo data.\n")
    return text


class FirstRunScreen(Screen):
    KEYMAP = "first-run"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, config_path: Path) -> None:
        super().__init__()
        self.config_path = config_path

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="first-run"):
            yield Static(first_run_text(self.config_path), id="first-run-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = "first run"
