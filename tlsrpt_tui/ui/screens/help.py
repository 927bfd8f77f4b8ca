"""Help (``?``/F1): the keys, the screens and what the status glyphs mean."""

from __future__ import annotations

import textwrap
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tlsrpt_tui.core.signature import FAIL_MARK, PASS_MARK, UNKNOWN_MARK
from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.widgets.status_panel import (
    CHANGED_MARK,
    GLYPH,
    PENDING_GLYPH,
    UNKNOWN_GLYPH,
)

#: the key column's width; explanations wrap beside it
KEY_COLUMN = 12


def keys_text(width: int = 72) -> Text:
    """Every key of ``ui.keymap`` (one line per meaning, with where it works), wrapped to
    ``width`` beside the key column."""
    text = Text()
    room = max(20, width - KEY_COLUMN - 2)
    for display, where, what in keymap.help_rows():
        lines = [(line, "") for line in textwrap.wrap(what, room)]
        tail = f"({where})"
        if len(lines[-1][0]) + 1 + len(tail) <= room:
            lines[-1] = (lines[-1][0] + " ", tail)
        else:
            lines += [("", line) for line in textwrap.wrap(tail, room)]
        for i, (line, dim) in enumerate(lines):
            text.append(f"  {display if i == 0 else '':<{KEY_COLUMN}}", style="bold")
            text.append(line)
            text.append(dim, style="dim")
            text.append("\n")
    return text


def help_text(width: int = 72) -> Text:
    text = Text()
    text.append("Keys", style="bold underline")
    text.append("  (Ctrl+P: any action by name)\n", style="dim")
    text.append_text(keys_text(width))
    text.append("\nDNS status glyphs\n", style="bold underline")
    for sev, glyph in GLYPH.items():
        text.append(f"  {glyph}  ", style="bold")
        text.append(f"{sev}\n")
    text.append(f"  {PENDING_GLYPH}  not checked yet\n")
    text.append(f"  {UNKNOWN_GLYPH}  no verdict from this host (unknown / not checked)\n")
    text.append(f"  {CHANGED_MARK}  changed since the previous check\n")
    text.append("\nInbox signature column (the first): DKIM of the report mail, checked on "
                "arrival\n", style="bold underline")
    text.append(f"  {PASS_MARK}  signed by the reporting organization and verified\n")
    text.append(f"  {FAIL_MARK}  the signature does not match: altered or forged mail; the row is "
                "struck through, its failures are not announced, and the Totals and charts leave "
                "it out (\"forged not counted\")\n")
    text.append(f"  {UNKNOWN_MARK}  unsigned, signed by another domain, key gone or DNS failed, "
                "or not mail (file, HTTPS): the figures are unverified\n")
    text.append(
        "\nDANE counts only as senders apply it: the MX records, the MX host's A/AAAA records "
        "and the TLSA records must all be DNSSEC-secure (RFC 7672). A secure TLSA behind an "
        "insecure link is not used, and the DANE line says which link (MX, A/AAAA or TLSA) is "
        "insecure.\n"
        "\nIf the resolver passes signatures on without validating them (no AD bit), a warning "
        "tops the status panel and DANE reads \"unknown\" instead of a false \"insecure\". Fix "
        "it by setting [checks] resolver to a validating resolver, e.g. a local Unbound.\n"
    )
    text.append(
        "\nChecks re-run on the interval of [checks] interval in the config (default 1 hour); "
        "the card shows when each domain was last checked and the countdown to the next. "
        "Failed rows are bold red (bold, counts reversed, under NO_COLOR); unreadable messages "
        "are listed with why.\n"
    )
    return text


class HelpScreen(ModalScreen[None]):
    KEYMAP = "help"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(Text("tlsrpt-tui help", style="bold"), id="help-title")
            # the dialog's inside (app.tcss #help-dialog: 90% of the terminal, 76 to 110
            # columns), less its border (2), padding (2) and scrollbar (2)
            width = min(110, max(76, self.app.size.width * 9 // 10), self.app.size.width)
            yield Static(help_text(width - 6), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
