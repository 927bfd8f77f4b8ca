"""The export dialog: a file name (its suffix picks CSV or JSON), Enter writes, Escape cancels."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tlsrpt_tui.ui.export import ExportSource, write_export
from tlsrpt_tui.ui.text import clean


class ExportScreen(ModalScreen[Path | None]):
    """Returns the written path, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, source: ExportSource, directory: Path) -> None:
        super().__init__()
        self.source = source
        self.directory = directory

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Static(Text("Export the current table", style="bold"))
            yield Static(Text("File name ending in .csv or .json; Enter writes, Escape cancels"))
            yield Input(value=str(self.directory / f"tlsrpt-{self.source.stem}.csv"),
                        id="export-path")
            yield Static(id="export-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        try:
            size = write_export(self.source, path)
        except (OSError, ValueError) as exc:
            self.query_one("#export-error", Static).update(Text(clean(exc), style="red"))
            return
        self.app.notify(f"exported {size:,} bytes to {clean(path)}", markup=False)
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
