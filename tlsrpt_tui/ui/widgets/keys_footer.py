"""The footer of every screen: compact below 100 columns, so the keys fit at 80."""

from __future__ import annotations

from textual.widgets import Footer

#: below this terminal width the footer drops its padding (the keys would be cut off)
NARROW = 100


class KeysFooter(Footer):
    """Textual's footer, compact on narrow terminals and without the palette hint there
    (Ctrl+P still works and ``?`` lists it)."""

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        narrow = self.app.size.width < NARROW
        self.compact = narrow
        self.show_command_palette = not narrow
