"""Typed messages workers post to the app; widgets update from them in place.

Workers never touch widgets: they call service/, then post one of these; the app turns them
into its live state (``ui.live``), which the widgets follow, so a failing worker can only
produce an ``*Failed`` message (a notification and a glyph), never a crash. Screens ask for
navigation with the ``Open*`` messages and the app, which holds the injected service, reads
what the next screen shows before pushing it.
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


class CheckedElsewhere(Message):
    """A timed check was left to another worker (a ``watch`` or TUI on the same store): it
    holds the domain's check lease, or checked it less than an interval ago."""

    def __init__(self, domain: str, status: Any | None, previous: Any | None,
                 checked_at: datetime | None, by: str, due_in: float) -> None:
        super().__init__()
        self.domain = domain
        self.status = status
        self.previous = previous
        self.checked_at = checked_at
        self.by = by
        self.due_in = due_in


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


# -- navigation: screens ask, the app (which holds the service) opens --------------------------


class OpenReport(Message):
    """Open a stored report; with ``policy_index``, that policy's failures over it (with
    ``detail_index``, the cursor on that failure)."""

    def __init__(self, report_pk: int, policy_index: int | None = None,
                 detail_index: int | None = None) -> None:
        super().__init__()
        self.report_pk = report_pk
        self.policy_index = policy_index
        self.detail_index = detail_index


class OpenDomain(Message):
    """Open the Report Overview filtered to one domain (what a domain's alert is about)."""

    def __init__(self, domain: str) -> None:
        super().__init__()
        self.domain = domain


class OpenReadiness(Message):
    """Open the enforce readiness of a domain (None: every configured or reported domain)."""

    def __init__(self, domain: str | None) -> None:
        super().__init__()
        self.domain = domain


class OpenFindings(Message):
    """Open a domain card's findings in full (fix, result type, what changed)."""

    def __init__(self, card: Any) -> None:
        super().__init__()
        self.card = card  # ui.widgets.status_panel.DomainCard


class OpenRecords(Message):
    """Open the records to publish for a domain."""

    def __init__(self, domain: str) -> None:
        super().__init__()
        self.domain = domain


class OpenPolicy(Message):
    """Open one policy of a report already loaded (its failure details)."""

    def __init__(self, report: Any, index: int) -> None:
        super().__init__()
        self.report = report  # core.model.Report
        self.index = index


class OpenRawReport(Message):
    """Open a report's JSON as received (found again in its stored input) and normalised."""

    def __init__(self, report: Any, input_pk: int) -> None:
        super().__init__()
        self.report = report  # core.model.Report
        self.input_pk = input_pk


class OpenRawInput(Message):
    """Open a stored input as received (the mail of a report, or unreadable mail)."""

    def __init__(self, input_pk: int) -> None:
        super().__init__()
        self.input_pk = input_pk
