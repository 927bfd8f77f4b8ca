"""Help (``?``/F1): the keys, the screens and what the status glyphs mean."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tlsrpt_tui.core.signature import FAIL_MARK, PASS_MARK, UNKNOWN_MARK
from tlsrpt_tui.ui.widgets.status_panel import (
    CHANGED_MARK,
    GLYPH,
    PENDING_GLYPH,
    UNKNOWN_GLYPH,
)

KEYS = (
    ("Enter", "drill down: any row → report → policy → failure details; on a domain card: "
              "its findings (fix, result type, what changed)"),
    ("Tab", "between the panes and the domain cards (Shift+Tab: back)"),
    ("z", "zoom the focused pane (again: both panes)"),
    ("PgUp/PgDn", "a page up / down; Home / End: the first / last row"),
    ("Escape", "back one level (or close the filter / this help)"),
    ("j / k", "down / up in tables"),
    ("/", "filter the inbox (organization, domain, report-id…, dkim:fail)"),
    ("o", "Report Overview table (one row per report, Total docked below)"),
    ("p", "Policy Summary table (one row per policy; o and p switch, not stack)"),
    ("d / f / t", "in the tables: filter by part of the domain / from / to (kept, shown)"),
    ("S", "in the tables: newest first / oldest first"),
    ("v / m", "on a report: its JSON as received (n: normalised) / the mail as received"),
    ("e", "export every row of the current (filtered) table to CSV or JSON"),
    ("r", "re-check the DNS records now"),
    ("s", "sync the IMAP accounts now"),
    ("a", "alerts newest first, delivery per channel (Enter: its report or domain)"),
    ("R", "enforce readiness of the chosen domain (Tab to its card)"),
    ("D", "the records to publish for the chosen domain, beside what is published"),
    ("w / m / c", "readiness: 30/90/7-day window; records: testing/enforce, copy zone lines"),
    ("Ctrl+P", "command palette: every action by name"),
    ("? / F1", "this help"),
    ("q", "quit"),
)


def help_text() -> Text:
    text = Text()
    text.append("Keys\n", style="bold underline")
    for key, what in KEYS:
        text.append(f"  {key:<10}", style="bold")
        text.append(f"{what}\n")
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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(Text("tlsrpt-tui help", style="bold"), id="help-title")
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
