"""Raw views: a report as RFC 8460 JSON (pretty-printed), or a stored input as received."""

from __future__ import annotations

import json
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, TextArea

from tlsrpt_tui.core.report_dict import report_to_rfc_dict
from tlsrpt_tui.ui.text import clean


class RawScreen(Screen):
    """Read-only text; TextArea shows text literally (no markup), and we strip controls."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    @classmethod
    def for_report(cls, data, report_pk: int) -> RawScreen:  # type: ignore[no-untyped-def]
        detail = data.report(report_pk)
        if detail is None:
            return cls("Raw", f"report {report_pk} is not in the store")
        report, _source = detail
        body = json.dumps(report_to_rfc_dict(report), indent=2, ensure_ascii=False)
        return cls(f"Raw JSON · {clean(report.report_id)}", body)

    @classmethod
    def for_input(cls, data, input_pk: int) -> RawScreen:  # type: ignore[no-untyped-def]
        raw = data.raw_input(input_pk)
        if raw is None:
            return cls("Raw", f"input {input_pk} is not in the store")
        source, error, payload = raw
        text = payload.decode("utf-8", errors="replace")
        head = f"unreadable: {error}\n\n" if error else ""
        return cls(f"Raw input · {clean(source)}", head + text)

    def compose(self) -> ComposeResult:
        yield Header()
        body = "\n".join(clean(line) for line in self.body.splitlines())
        yield TextArea(body, read_only=True, show_line_numbers=False, id="raw-text")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = Text(self.title_text).plain
        self.query_one(TextArea).focus()
