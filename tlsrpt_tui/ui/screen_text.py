"""The current screen as plain text lines (what a terminal would show, without styles).

Tests and the benchmark assert on what the user sees; this reads the compositor's strips the
same way a terminal render would, with no dependency on an SVG screenshot.
"""

from __future__ import annotations

from textual.app import App


def screen_text(app: App) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip).rstrip() for strip in strips)
