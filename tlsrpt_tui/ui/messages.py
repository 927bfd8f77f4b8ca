"""Typed messages workers post to the app; widgets update from them in place.

Workers never touch widgets: they call service/, then post one of these, so every widget
update happens on the UI's own task and a failing worker can only produce an ``*Failed``
message (a notification and a glyph), never a crash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.message import Message


class DomainChecked(Message):
    """A live check of one domain finished (or stored results were loaded for it)."""

    def __init__(
        self,
        domain: str,
        status: Any,
        previous: Any | None,
        checked_at: datetime,
        notify_changes: bool = True,
    ) -> None:
        super().__init__()
        self.domain = domain
        self.status = status  # service.checks.DomainStatus
        self.previous = previous  # the status before this one, to highlight changes
        self.checked_at = checked_at
        self.notify_changes = notify_changes


class CheckFailed(Message):
    """A live check could not run at all (the worker raised)."""

    def __init__(self, domain: str, error: str) -> None:
        super().__init__()
        self.domain = domain
        self.error = error


class ReportsIngested(Message):
    """New inputs were stored (by a sync, an import or a test): the inbox re-reads its page."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count


class SyncProgress(Message):
    """Progress of an IMAP sync; ``total`` is None while the size is not yet known."""

    def __init__(self, account: str, done: int, total: int | None, stage: str = "") -> None:
        super().__init__()
        self.account = account
        self.done = done
        self.total = total
        self.stage = stage


class SyncFinished(Message):
    def __init__(
        self, account: str, stored: int, error: str | None = None, note: str = ""
    ) -> None:
        super().__init__()
        self.account = account
        self.stored = stored
        self.error = error
        self.note = note


class SupervisedChanged(Message):
    """A supervised worker (an IMAP folder watcher) started retrying or runs again."""

    def __init__(self, state: Any) -> None:
        super().__init__()
        self.state = state  # service.supervise.WorkerState
