"""The export dialog: a file name (its suffix picks CSV or JSON), Enter writes, Escape cancels.

An existing file is never replaced silently: the first Enter says so, a second Enter on the
same name replaces it. The rows are read and written off the event loop (the source's async
``write``: a whole inbox can be large), and a failure is said in words under the name, with
the dialog left open to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.export import ExportSource, describe_path_error, format_of
from tlsrpt_tui.ui.text import clean


class ExportScreen(ModalScreen[Path | None]):
    """Returns the written path, or None when cancelled."""

    KEYMAP = "export"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, source: ExportSource, directory: Path) -> None:
        super().__init__()
        self.source = source
        self.directory = directory
        #: the existing file the user was warned about (a second Enter on it replaces it)
        self.confirmed: Path | None = None
        self.writing = False

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Static(Text("Export the current table (every matching row)", style="bold"))
            yield Static(Text("File name ending in .csv or .json; Enter writes, Escape cancels"))
            yield Input(value=str(self.directory / f"tlsrpt-{self.source.stem}.csv"),
                        id="export-path")
            yield Static(id="export-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _say(self, message: str, style: str) -> None:
        self.query_one("#export-error", Static).update(Text(clean(message), style=style))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.writing:
            return
        path = Path(event.value.strip()).expanduser()
        try:
            fmt = format_of(path)
        except ValueError as exc:
            self._say(describe_path_error(exc, path), styles.FAILED)
            return
        overwrite = path == self.confirmed
        if path.exists() and not path.is_dir() and not overwrite:
            self.confirmed = path
            self._say(f"{path} exists: Enter again replaces it, or change the name",
                      styles.WARNING)
            return
        self.writing = True
        self._say("writing…", styles.QUIET)
        self.run_worker(self._write(path, fmt, overwrite), group="export",
                        exit_on_error=False)

    async def _write(self, path: Path, fmt: str, overwrite: bool) -> None:
        try:
            size = await self.source.write(path, fmt, overwrite)
        except Exception as exc:  # a bad path in words; anything else (a store error) as is
            self.writing = False
            self.confirmed = None
            said = describe_path_error(exc, path) if isinstance(exc, OSError | ValueError) \
                else f"cannot export: {type(exc).__name__}: {exc}"
            self._say(said, styles.FAILED)
            return
        self.app.notify(f"exported {size:,} bytes to {clean(path)}", markup=False)
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
