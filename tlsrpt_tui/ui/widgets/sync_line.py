"""The sync status line: what the IMAP sync is doing, with a progress bar while it runs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from tlsrpt_tui.ui.text import clean


class SyncLine(Horizontal):
    DEFAULT_CSS = """
    SyncLine { height: 1; }
    SyncLine > #sync-label { width: 1fr; height: 1; }
    SyncLine > ProgressBar { width: 30; height: 1; display: none; }
    SyncLine.-syncing > ProgressBar { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text("sync: idle", style="dim"), id="sync-label")
        yield ProgressBar(total=None, show_eta=False, id="sync-bar")

    def set_idle(self, message: str) -> None:
        self.remove_class("-syncing")
        self.query_one("#sync-label", Static).update(Text(clean(message), style="dim"))

    def set_error(self, message: str) -> None:
        self.remove_class("-syncing")
        self.query_one("#sync-label", Static).update(Text(f"✗ {clean(message)}", style="red"))

    def set_progress(self, account: str, done: int, total: int | None, stage: str = "") -> None:
        self.add_class("-syncing")
        label = f"syncing {clean(account)}"
        if stage:
            label += f": {clean(stage)}"
        label += f" {done}/{total}" if total else f" {done}"
        self.query_one("#sync-label", Static).update(Text(label))
        bar = self.query_one("#sync-bar", ProgressBar)
        bar.update(total=total, progress=done)
