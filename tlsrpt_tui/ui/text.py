"""Untrusted text → Rich ``Text`` objects that are never interpreted as markup or escapes.

Everything a report, a DNS record, a certificate or a mail header says is attacker-controlled.
Textual parses ``str`` cells and ``Static`` strings as markup, and a raw ESC or OSC sequence
would reach the user's terminal, so every such value goes through :func:`clean` first: whole
escape sequences, control characters and bidi overrides are removed, and the result is wrapped
in ``Text`` so ``[bold red]`` stays literal.
"""

from __future__ import annotations

import re

from rich.text import Text

from tlsrpt_tui.core.tables import terminal_safe

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/APC strings and other ESC sequences.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC … BEL/ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS/SOS/PM/APC … ST
    r"|\x1b[@-Z\\-_]?"  # other ESC sequences, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def clean(value: object) -> str:
    """The printable part of an untrusted value as a plain string (``None`` → ``""``).

    Whole escape sequences go first (so ``ESC [31m`` leaves no ``[31m`` behind), then
    ``core.tables.terminal_safe`` removes what is left: controls and bidi overrides.
    """
    if value is None:
        return ""
    return terminal_safe(_ESCAPES.sub("", str(value)))


def cell(value: object, style: str = "", justify: str | None = None) -> Text:
    """A DataTable cell: literal text, single line (newlines already removed by :func:`clean`)."""
    text = Text(clean(value), style=style)
    if justify:
        text.justify = justify  # type: ignore[assignment]
    return text


def number(value: int | None, style: str = "") -> Text:
    """A right-aligned count cell."""
    return Text("" if value is None else f"{value:,}", style=style, justify="right")


def styled_lines(lines: list[tuple[str, str]], styles: dict[str, str]) -> Text:
    """(kind, line) pairs from a core ``describe`` → one Text, each line cleaned and styled by
    its kind; the lines hold untrusted values, so they never pass through markup."""
    text = Text()
    for i, (kind, line) in enumerate(lines):
        if i:
            text.append("\n")
        text.append(clean(line), style=styles.get(kind, ""))
    return text
