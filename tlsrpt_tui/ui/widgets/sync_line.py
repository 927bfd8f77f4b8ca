"""The sync status line: what the IMAP sync is doing, with a progress bar while it runs.

It shows the app's live sync state (``LiveState.sync``) and follows its changes.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from tlsrpt_tui.ui.live import LiveState, SyncView
from tlsrpt_tui.ui.text import clean


class SyncLine(Horizontal):
    DEFAULT_CSS = """
    SyncLine { height: 1; }
    SyncLine > #sync-label { width: 1fr; height: 1; }
    SyncLine > ProgressBar { width: 30; height: 1; display: none; }
    SyncLine.-syncing > ProgressBar { display: block; }
    """

    def __init__(self, live: LiveState, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.live = live

    def compose(self) -> ComposeResult:
        yield Static(Text("sync: idle", style="dim"), id="sync-label")
        yield ProgressBar(total=None, show_eta=False, id="sync-bar")

    def on_mount(self) -> None:
        self.show(self.live.sync)
        self.live.sync_changed.subscribe(self, self.show)

    def show(self, view: SyncView) -> None:
        label = self.query_one("#sync-label", Static)
        if view.state == "progress":
            self.add_class("-syncing")
            label.update(Text(clean(view.text)))
            self.query_one("#sync-bar", ProgressBar).update(total=view.total, progress=view.done)
            return
        self.remove_class("-syncing")
        if view.state == "error":
            label.update(Text(f"✗ {clean(view.text)}", style="red"))
        else:
            label.update(Text(clean(view.text), style="dim"))
