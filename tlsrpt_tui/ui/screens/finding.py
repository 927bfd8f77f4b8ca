"""One domain's DNS findings in full: what is wrong, the fix, the RFC 8460 result type senders
will report for it, and what changed since the previous check, with both times.

The status card has room for one short line per item; this screen (Enter on a card) has room
for all of it, so "why is this domain failing" is answered inside the TUI, not only by
``tlsrpt-tui status``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from tlsrpt_tui.core.findings import Severity
from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.text import clean
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter

if TYPE_CHECKING:
    from tlsrpt_tui.ui.widgets.status_panel import DomainCard, StatusItem


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def findings_text(card: DomainCard) -> Text:
    """The card's items, worst first, each finding with its message, fix and result type."""
    from tlsrpt_tui.ui.widgets.status_panel import GLYPH, UNKNOWN_GLYPH, glyph_style

    text = Text()
    text.append(clean(card.domain), style="bold")
    text.append(f"   checked {_when(card.checked_at)}", style=styles.QUIET)
    if card.previous_at is not None:
        text.append(f" · previous check {_when(card.previous_at)}", style=styles.QUIET)
    text.append("\n")
    if card.error:
        text.append(f"\n{GLYPH[Severity.ERROR]} could not check: ", style=styles.FAILED)
        text.append(clean(card.error) + "\n")
    items: list[StatusItem] = sorted(card.items, key=lambda i: -i.severity.rank)
    for item in items:
        text.append("\n")
        glyph = UNKNOWN_GLYPH if item.unknown else GLYPH[item.severity]
        text.append(glyph, style=styles.QUIET if item.unknown else glyph_style(item.severity))
        text.append(f" {clean(item.label)}", style="bold")
        if item.key in card.changed:
            before = card.previous_items.get(item.key)
            was = "not checked" if before is None else (
                f"{GLYPH[before.severity]} {clean(before.summary)}")
            text.append("\n  changed since the previous check: ", style="bold")
            text.append(f"was {was} ({_when(card.previous_at)}), now "
                        f"{GLYPH[item.severity]} ({_when(card.checked_at)})")
        for f in item.findings:
            failing = f.severity is Severity.ERROR
            text.append(f"\n  {clean(f.code)}", style=styles.FAILED if failing else "bold")
            text.append(f"  {clean(f.subject)}\n", style=styles.QUIET)
            text.append(f"    {clean(f.message)}\n")
            if f.hint:
                text.append("    fix: ", style="bold")
                text.append(f"{clean(f.hint)}\n")
            if f.result_type:
                text.append("    senders report: ", style="bold")
                text.append(f"{clean(f.result_type)} (RFC 8460 result type)\n")
    return text


class FindingScreen(Screen):
    """Read-only; Escape goes back to the dashboard with the card still focused."""

    KEYMAP = "finding"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, card: DomainCard) -> None:
        super().__init__()
        self.card = card

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="finding-body"):
            yield Static(findings_text(self.card), id="finding-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = f"DNS findings · {clean(self.card.domain)}"
        self.query_one("#finding-body").focus()
