"""The footer of every screen: the screen's most useful keys from the keymap, as many as fit.

Textual's footer lists every shown binding in declaration order and cuts the line at the
terminal's edge (``r Re-ch▏`` at 80 columns), and never lists keys a widget handles itself
(Enter in a table). This one takes the screen's keys from ``ui.keymap`` by rank, keeps those
that are active now (a focused filter box takes the letters), drops whatever does not fit the
width, and always ends with ``? Help``, which lists every key (and Ctrl+P names every action).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Input
from textual.widgets._footer import FooterKey

from tlsrpt_tui.ui import keymap

#: below this terminal width the footer drops its padding and the palette hint
NARROW = 100
#: room the command palette hint takes on the right of a wide footer
PALETTE_WIDTH = 14


def _scopes(node: object) -> tuple[str, ...]:
    own = getattr(node, "KEYMAP", ())
    return (own,) if isinstance(own, str) else tuple(own)


def screen_scopes(screen: object) -> tuple[str, ...]:
    """The keymap scopes whose keys a screen offers now: the focused widget's (a domain
    card's Enter), the screen's own and the app's."""
    return (*_scopes(getattr(screen, "focused", None)), *_scopes(screen), "app")


def item_width(entry: keymap.Key, compact: bool) -> int:
    """Columns one key takes in the footer (FooterKey's padding and margin)."""
    text = len(entry.display) + 1 + len(entry.label)
    return text + 1 if compact else text + 2


def fitting(entries: list[keymap.Key], width: int, compact: bool) -> list[keymap.Key]:
    """The first entries (ranked) that fit ``width``, and the ALWAYS one (help) in any case:
    a prefix of the ranking, so a narrower footer never shows a key a wider one hides."""
    last = [e for e in entries if e.footer >= keymap.ALWAYS]
    room = width - sum(item_width(e, compact) for e in last)
    kept = []
    for entry in entries:
        if entry in last:
            continue
        need = item_width(entry, compact)
        if need > room:
            break
        kept.append(entry)
        room -= need
    return kept + last


class KeysFooter(Footer):
    """Textual's footer look (clickable keys), with the keymap's choice of keys."""

    def on_mount(self) -> None:  # Footer's own on_mount runs too (Textual calls each class's)
        self._fit()

    def on_resize(self) -> None:
        self._fit()
        self.refresh(recompose=True)

    def _fit(self) -> None:
        narrow = self.app.size.width < NARROW
        self.compact = narrow
        self.show_command_palette = not narrow

    def shown(self) -> list[keymap.Key]:
        """The keys this footer lists now (tests read it)."""
        screen = self.screen
        active = screen.active_bindings
        typing = isinstance(screen.focused, Input)
        offered = []
        for entry in keymap.footer_entries(screen_scopes(screen)):
            if entry.action is not None and entry.action == getattr(screen, "OPENED_BY", ""):
                continue  # `o` on the Overview: room for a key that does something
            if entry.action is None:
                if not typing:  # Enter and Tab mean something else in a filter box
                    offered.append(entry)
                continue
            found = active.get(entry.keys[0])
            if found is not None and found.binding.action == entry.action:
                offered.append(entry)
        width = self.app.size.width - (PALETTE_WIDTH if self.show_command_palette else 0)
        return fitting(offered, width, self.compact)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        for entry in self.shown():
            found = active.get(entry.keys[0])
            yield FooterKey(
                entry.keys[0], entry.display, entry.label, entry.action or "",
                disabled=found is not None and not found.enabled, tooltip=entry.what,
            ).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                yield FooterKey(
                    found.binding.key, self.app.get_key_display(found.binding),
                    found.binding.description, found.binding.action,
                    classes="-command-palette", disabled=not found.enabled,
                    tooltip=found.binding.tooltip or found.binding.description,
                )
