"""A Static whose height always follows its latest content.

Why: Textual (8.2) keys a widget's box model by a counter that ``refresh(layout=True)`` advances
only when no layout is pending for the widget yet. When content changes twice before the
widget's idle handler runs, and a sibling's layout measures the widget between the two changes,
the box model measured for the first content stays cached under the still-current key: the
widget keeps that height until some later change. On the dashboard that left every domain card
cut to the three lines of "not checked yet" once its stored results came in (seen in CI's
snapshot test at 120x40, tests/test_ui_layout_race.py reproduces the interleaving).
"""

from __future__ import annotations

from textual.visual import VisualType
from textual.widgets import Static


class FittedStatic(Static):
    """``update`` always measures the widget again when it asks for a layout."""

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(content, layout=layout)
        if layout:
            # a new box-model key: the cached measure of earlier content is never reused
            self._layout_updates += 1
