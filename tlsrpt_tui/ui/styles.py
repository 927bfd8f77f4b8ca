"""The TUI's few styles, so a failure is the most visible thing in every colour mode.

Three ways a terminal shows them, and each has a trap:

- full colour: fine with any colour, but ANSI names ("red") are mapped through the theme;
- 16 colours (``TERM=xterm``): Textual turns ANSI names into the theme's RGB and then back to
  the nearest of 16, which drew "bold red" as magenta; explicit RGB values chosen to land on
  red / bright red / green / yellow / cyan avoid the round trip (tests/test_ui_daily.py checks
  where each lands);
- ``NO_COLOR``: Textual turns every colour into its grey, and red is a dark grey: failures
  became the least visible thing. Without colour a failure is bold, and its count and glyph
  are reversed; success is plain.

The app calls :func:`use` once it knows whether colour is off; widgets read the module's
names when they build a line, so they always get the current mode.
"""

from __future__ import annotations

#: a failing row's or line's text
FAILED = "bold #ff5f5f"
#: the one thing to see first: a failed count, the ✗ glyph, a failure's result type
FAILED_MARK = "bold #ffffff on #d70000"
OK = "#5fd75f"
WARNING = "#ffaf00"
INFO = "#00afaf"
#: zero counts, notes, times
QUIET = "dim"
#: a report whose DKIM signature failed (forged or altered): struck through, never red
FORGED = "dim strike"

_COLOUR = {
    "FAILED": FAILED,
    "FAILED_MARK": FAILED_MARK,
    "OK": OK,
    "WARNING": WARNING,
    "INFO": INFO,
    "QUIET": QUIET,
    "FORGED": FORGED,
}
_NO_COLOUR = {
    "FAILED": "bold",
    "FAILED_MARK": "bold reverse",
    "OK": "",
    "WARNING": "underline",
    "INFO": "",
    "QUIET": "dim",
    "FORGED": "dim strike",
}


def use(no_color: bool) -> None:
    """Pick the styles for a terminal with or without colour (``App.no_color``)."""
    globals().update(_NO_COLOUR if no_color else _COLOUR)


def failed_count(count: int | None) -> str:
    """The style of a failed-sessions count: the failure mark when there are any."""
    return FAILED_MARK if count else QUIET
