"""The app's live state (checks, sync, new reports) and the signals widgets subscribe to.

The app's workers change this state and publish it; the widgets that show it (the status
cards, the sync line, the inbox and the charts) read the current value when they mount and
subscribe to the changes. So the app never looks for widgets on its screens to call their
methods, and a widget mounted later (a screen pushed again) starts from the current state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from textual.dom import DOMNode
from textual.signal import Signal
from textual.timer import Timer

#: While reports keep arriving (a first sync commits a batch every ~0.1 s), the inbox and the
#: charts re-read at most this often: re-reading and redrawing after every batch kept the
#: event loop busy and every key waited behind it (bench/bench_keys_sync.py); a redraw of the
#: dashboard costs 0.2-0.5 s of the loop on a loaded 2-core box. The sync line still counts
#: every batch.
REFRESH_SECONDS = 4.0


class Throttle:
    """Runs ``action`` at once, then at most once per ``seconds`` while calls keep coming.

    The last call is never lost: calls inside the quiet time are answered by one trailing run
    at its end."""

    def __init__(self, owner: DOMNode, seconds: float, action: Callable[[], None]) -> None:
        self.owner = owner
        self.seconds = seconds
        self.action = action
        self._last = float("-inf")
        self._timer: Timer | None = None

    def __call__(self) -> None:
        if self._timer is not None:
            return  # a trailing run is on its way
        wait = self._last + self.seconds - time.monotonic()
        if wait <= 0:
            self._run()
        else:
            self._timer = self.owner.set_timer(wait, self._run)

    def _run(self) -> None:
        self._timer = None
        self._last = time.monotonic()
        self.action()


@dataclass(frozen=True, slots=True)
class CheckView:
    """What a domain's card shows: the latest result, the one before, and what is going on."""

    domain: str
    status: Any | None = None  # core.findings.DomainStatus
    previous: Any | None = None
    checked_at: datetime | None = None
    next_at: datetime | None = None
    checking: bool = False
    error: str | None = None
    #: said instead of the countdown when no check is scheduled (the demo)
    note: str = ""


@dataclass(frozen=True, slots=True)
class SyncView:
    """What the sync line shows: ``state`` is "idle", "progress" or "error"."""

    state: str = "idle"
    text: str = "sync: idle"
    done: int = 0
    total: int | None = None


class LiveState:
    """Current values plus one signal per kind of change (published after each change)."""

    def __init__(self, owner: DOMNode) -> None:
        self.checks: dict[str, CheckView] = {}
        self.sync = SyncView()
        #: bumped whenever new reports were stored; the inbox and charts re-read on a change
        self.reports_version = 0
        self.check_changed: Signal[CheckView] = Signal(owner, "check-changed")
        self.sync_changed: Signal[SyncView] = Signal(owner, "sync-changed")
        self.reports_changed: Signal[int] = Signal(owner, "reports-changed")
        self._reports_throttle = Throttle(owner, REFRESH_SECONDS, self._publish_reports)

    def check(self, domain: str) -> CheckView:
        return self.checks.get(domain) or CheckView(domain)

    def update_check(self, domain: str, **changes: Any) -> CheckView:
        view = replace(self.check(domain), **changes)
        self.checks[domain] = view
        self.check_changed.publish(view)
        return view

    def set_sync(self, view: SyncView) -> None:
        self.sync = view
        self.sync_changed.publish(view)

    def reports_stored(self) -> None:
        """New reports are in the store: the inbox and the charts re-read (at once, then at
        most every REFRESH_SECONDS while more keep coming)."""
        self._reports_throttle()

    def _publish_reports(self) -> None:
        self.reports_version += 1
        self.reports_changed.publish(self.reports_version)
