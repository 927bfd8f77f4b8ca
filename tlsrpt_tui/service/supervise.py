"""Long-lived workers that never die quietly: one supervision mechanism for every front.

Why: a folder watcher or a domain's check loop runs for days. Anything can go wrong on the way
(a server drops the connection, the store is locked by a concurrent ``import``, a bug in a
parser raises an unexpected exception). None of that may end the worker, and none of it may go
unseen. ``Supervisor.spawn`` runs a worker's body in a loop: any exception (not just the
expected ones) is logged, the worker's state becomes "retrying since T: reason", and the body is
started again after a backoff (doubling, capped, with jitter). The body calls ``handle.ok()``
when it made progress, which resets the backoff and shows the worker as running. Only
cancellation (SIGTERM, the app closing) ends a worker.

``watch``, ``sync --watch`` and the TUI all use it; the TUI's sync line and the metrics read
``Supervisor.states``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

#: Default backoff: 1 s doubling to 5 minutes.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


@dataclass(frozen=True, slots=True)
class WorkerState:
    """What one worker is doing, for the TUI's sync line, the log and the metrics."""

    name: str
    #: starting | running | standby (another worker has its lease) | retrying | stopped
    state: str = "starting"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    reason: str = ""  # the last error while retrying; who has the work while standing by
    failures: int = 0  # consecutive failures (0 while running)
    retry_at: datetime | None = None
    last_ok: datetime | None = None

    @property
    def failing(self) -> bool:
        return self.state == "retrying"

    def line(self) -> str:
        if self.state == "retrying":
            since = self.since.astimezone(UTC).strftime("%H:%M:%S UTC")
            return f"{self.name}: retrying since {since}: {self.reason}"
        if self.state == "standby":
            return f"{self.name}: standby, {self.reason}"
        return f"{self.name}: {self.state}"


StateCallback = Callable[[WorkerState], None]
#: exc -> minimum wait in seconds (e.g. at least a minute after an authentication failure).
MinWait = Callable[[BaseException], float]


def describe(exc: BaseException) -> str:
    """One line for the log and the screen: known errors by message, others with their type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if not text:
        return name
    if type(exc).__module__.startswith("tlsrpt_tui"):
        return text
    return f"{name}: {text}"


class Handle:
    """What a worker body gets: report progress (``ok``) or a note, without seeing the loop."""

    def __init__(self, supervisor: Supervisor, name: str) -> None:
        self._supervisor = supervisor
        self.name = name

    def ok(self) -> None:
        """The body made progress: running, backoff reset."""
        self._supervisor._set_running(self.name)

    def standby(self, reason: str) -> None:
        """Another worker has this work's lease: waiting to take over (not a failure)."""
        self._supervisor._set_standby(self.name, reason)

    @property
    def state(self) -> WorkerState:
        return self._supervisor.states[self.name]


Body = Callable[[Handle], Awaitable[None]]


class Supervisor:
    """Runs named worker bodies forever, restarting them after any exception."""

    def __init__(
        self,
        *,
        on_change: StateCallback | None = None,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
        min_wait: MinWait | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.on_change = on_change
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.min_wait = min_wait or (lambda exc: 0.0)
        self.clock = clock
        self.states: dict[str, WorkerState] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[StateCallback] = []

    # -- state ---------------------------------------------------------------------------------

    def listen(self, callback: StateCallback) -> None:
        self._listeners.append(callback)

    def _publish(self, state: WorkerState) -> None:
        self.states[state.name] = state
        for callback in [self.on_change, *self._listeners]:
            if callback is None:
                continue
            try:
                callback(state)
            except Exception:  # a display problem must not stop the worker
                log.exception("state callback failed for %s", state.name)

    def _set_running(self, name: str) -> None:
        old = self.states.get(name)
        now = self.clock()
        if old is not None and old.state == "running":
            self.states[name] = replace(old, last_ok=now)
            return
        if old is not None and old.state == "retrying":
            log.info("%s: running again", name)
        self._publish(WorkerState(name, "running", now, last_ok=now))

    def _set_standby(self, name: str, reason: str) -> None:
        old = self.states.get(name)
        if old is not None and old.state == "standby" and old.reason == reason:
            return
        if old is None or old.state != "standby":
            log.info("%s: standing by, %s", name, reason)
        self._publish(WorkerState(name, "standby", self.clock(), reason,
                                  last_ok=old.last_ok if old else None))

    def show(self, state: WorkerState) -> None:
        """A worker that runs elsewhere changed state (the TUI's folder watchers run in its
        sync process, service/sync_process.py): record and publish it like one of ours, so
        the fronts show it the same way."""
        self._publish(state)

    def failing(self) -> list[WorkerState]:
        return [s for s in self.states.values() if s.failing]

    # -- running -------------------------------------------------------------------------------

    def spawn(
        self, name: str, body: Body, *, min_wait: MinWait | None = None
    ) -> asyncio.Task[None]:
        """Start ``body`` under supervision; cancel the returned task (or ``stop``) to end it."""
        if name in self.tasks and not self.tasks[name].done():
            raise RuntimeError(f"worker {name} is already running")
        self._publish(WorkerState(name, "starting", self.clock()))
        task = asyncio.create_task(self._run(name, body, min_wait or self.min_wait), name=name)
        self.tasks[name] = task
        return task

    async def _run(self, name: str, body: Body, min_wait: MinWait) -> None:
        handle = Handle(self, name)
        try:
            while True:
                try:
                    await body(handle)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    wait = self.failed(name, exc, min_wait)
                    await asyncio.sleep(wait * random.uniform(0.9, 1.1))
                    continue
                # A body that returns has finished its work (e.g. ``--once``).
                self._publish(replace(self.states[name], state="stopped", since=self.clock()))
                return
        finally:
            if self.states[name].state != "stopped":
                self.states[name] = replace(self.states[name], state="stopped")

    def failed(self, name: str, exc: BaseException, min_wait: MinWait | None = None) -> float:
        """Record a failure of worker ``name``: log it, show it as retrying (since the FIRST
        failure of the series) and return how long to wait: the backoff doubles from
        ``backoff_first`` per consecutive failure, capped at ``backoff_max``.

        The supervised loop calls it; so does a front that schedules a worker itself (the
        TUI's timed checks), so both back off and show their state the same way."""
        old = self.states.get(name) or WorkerState(name, "starting", self.clock())
        failures = 1 if old.state != "retrying" else old.failures + 1
        delay = min(self.backoff_max, self.backoff_first * 2 ** (failures - 1))
        wait = max(delay, (min_wait or self.min_wait)(exc))
        reason = describe(exc)
        log.warning("%s: %s; retrying in %.0fs", name, reason, wait)
        log.debug("%s: failure details", name, exc_info=exc)
        now = self.clock()
        since = old.since if old.state == "retrying" else now
        self._publish(
            WorkerState(
                name, "retrying", since, reason, failures,
                retry_at=now + timedelta(seconds=wait), last_ok=old.last_ok,
            )
        )
        return wait

    def succeeded(self, name: str) -> None:
        """Record that worker ``name`` made progress (the counterpart of ``failed``)."""
        self._set_running(name)

    async def stop(self) -> None:
        """Cancel every worker and wait for them (each body cleans up in its finally)."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def wait(self) -> None:
        """Until every worker has ended (normally: until cancelled)."""
        try:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        finally:
            await self.stop()

