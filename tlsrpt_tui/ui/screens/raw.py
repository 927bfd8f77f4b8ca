"""Raw views: a report's JSON as the sender wrote it (and, on `n`, as this program read it),
or a stored input as received.

The as-received view is what one opens to see a sender's quirks (an ``mx-host`` string where
the RFC has a list, a field it left out), so it is the stored input's own JSON, pretty-printed
with its keys and values untouched; the normalised form (``core.report_dict``, the same as
``show --format json``) is the second view.
"""

from __future__ import annotations

import json
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Header, TextArea

from tlsrpt_tui.core.model import Report
from tlsrpt_tui.core.parse import received_json
from tlsrpt_tui.core.report_dict import report_to_rfc_dict
from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.text import clean
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter


def pretty_json(data: bytes) -> str:
    """The document's JSON, indented, keys in the sender's order, nothing added or dropped
    (the text itself when it does not load, which a stored report's JSON always does)."""
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return data.decode("utf-8", errors="replace")


def as_received(report, payload: bytes) -> str | None:  # type: ignore[no-untyped-def]
    """The JSON the report was read from, found again in its stored input's bytes."""
    wanted = (report.report_id, report.start, report.end)
    for found, data in received_json(payload):
        if (found.report_id, found.start, found.end) == wanted:
            return pretty_json(data)
    return None


class RawScreen(Screen):
    """Read-only text; TextArea shows text literally (no markup), and we strip controls.
    With two views (a report: as received, normalised), `n` switches between them."""

    KEYMAP = "raw"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, title: str, body: str, *views: tuple[str, str]) -> None:
        super().__init__()
        #: (title, body) of each view; the first is shown first
        self.views = [(title, body), *views]
        self.view = 0

    @property
    def title_text(self) -> str:
        return self.views[self.view][0]

    @property
    def body(self) -> str:
        return self.views[self.view][1]

    @classmethod
    def for_report(cls, report: Report, payload: bytes | None) -> RawScreen:
        """The report's JSON as received, found again in ``payload`` (the stored input's
        bytes, read by the app from the service), and its normalised form. Parses the bytes:
        the app calls it in a thread."""
        name = clean(report.report_id)
        normalised = json.dumps(report_to_rfc_dict(report), indent=2, ensure_ascii=False)
        normal_view = (f"Normalised JSON · {name} · n: as received", normalised)
        received = as_received(report, payload) if payload is not None else None
        if received is None:  # an input stored before its bytes were kept, or pruned
            return cls(f"Normalised JSON · {name} · the received bytes are not stored",
                       normalised)
        return cls(f"JSON as received · {name} · n: normalised", received, normal_view)

    @classmethod
    def for_input(cls, source: str, error: str | None, payload: bytes) -> RawScreen:
        """A stored input as received (read by the app from the service)."""
        text = payload.decode("utf-8", errors="replace")
        head = f"unreadable: {error}\n\n" if error else ""
        return cls(f"Raw input · {clean(source)}", head + text)

    @staticmethod
    def _shown(body: str) -> str:
        return "\n".join(clean(line) for line in body.splitlines())

    def compose(self) -> ComposeResult:
        yield Header()
        yield TextArea(self._shown(self.body), read_only=True, show_line_numbers=False,
                       id="raw-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = Text(self.title_text).plain
        self.query_one(TextArea).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return len(self.views) > 1 if action == "switch_view" else True

    def action_switch_view(self) -> None:
        self.view = (self.view + 1) % len(self.views)
        self.query_one(TextArea).load_text(self._shown(self.body))
        self.sub_title = Text(self.title_text).plain
