"""What a sync reports as it goes: per-folder running totals, the run's summary, its events.

Apart from service/sync.py because the TUI's sync runs in a process of its own
(service/sync_process.py): the TUI rebuilds these from the lines that process writes, and
must not import the sync itself (aioimaplib, dkimpy, cryptography, dnspython) to do so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tlsrpt_tui.store.leases import Lease

__all__ = ["FolderSummary", "ProgressCallback", "SyncEvent", "SyncSummary"]


@dataclass(slots=True)
class FolderSummary:
    account: str
    folder: str
    uidvalidity: int = 0
    seen: int = 0  # messages fetched this run
    new: int = 0  # messages with at least one new report
    duplicate: int = 0  # messages whose reports were all known
    rejected: int = 0  # messages stored with an error
    not_report: int = 0  # mail that is not TLS-RPT (left alone)
    new_reports: int = 0
    moved: int = 0
    resync: bool = False  # UIDVALIDITY changed: read again from UID 1
    pending: int = 0  # messages still to fetch in this run (for progress bars)
    problems: list[str] = field(default_factory=list)
    move_failures: int = 0  # consecutive failed archive moves
    move_retry_at: float = 0.0  # loop time before which owed moves are not tried again

    def line(self) -> str:
        text = (
            f"{self.account}/{self.folder}: {self.seen} seen, {self.new} new, "
            f"{self.duplicate} duplicate, {self.rejected} rejected, {self.not_report} not a report"
        )
        if self.moved:
            text += f", {self.moved} archived"
        if self.resync:
            text += " (UIDVALIDITY changed: full resync)"
        return text


@dataclass(slots=True)
class SyncSummary:
    folders: list[FolderSummary] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Folders another worker was syncing (a batch on its way): (folder, its lease).
    busy: list[tuple[str, Lease]] = field(default_factory=list)
    #: Folders left to the worker that watches them (IDLE): one line each.
    watched_elsewhere: list[str] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.folders)

    @property
    def ok(self) -> bool:
        return not self.errors

    def line(self) -> str:
        return (
            f"{self.total('seen')} seen, {self.total('new')} new, "
            f"{self.total('duplicate')} duplicate, {self.total('rejected')} rejected, "
            f"{self.total('not_report')} not a report"
        )


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """What the callback receives: a folder's running summary, and a one-line note."""

    kind: str  # "progress" | "batch" | "idle" | "error" | "warning" | "reconnect" | "done"
    folder: FolderSummary | None = None
    message: str = ""
    #: "batch": reports newly stored by THIS batch (what a front refreshes and announces).
    new_reports: int = 0
    #: "batch": what the commit hook (``sync.CommitHook``) returned inside the batch's
    #: transaction, now committed with it (``watch``: the alerts its reports raised).
    raised: tuple[object, ...] = ()


ProgressCallback = Callable[[SyncEvent], None]
