"""A worker's leases, used from the event loop: take one, keep it renewed while working, give
it back when done (store/leases.py keeps them).

Why a class with its own connection and thread: a lease is renewed in the background while the
work it protects goes on (a folder's batches committed by the ingest writer, a check running,
an alert being sent), and a renewal must never block the event loop behind another
transaction, nor interleave with one on the same connection. So every lease operation runs on
one thread of its own, over its own connection to the store.

``hold`` is the whole protocol in one ``async with``: the lease is renewed every third of its
lifetime; when a renewal finds it taken over (this worker stalled past its expiry), the work
inside is cancelled and ``LeaseLost`` raised in its place; on the way out the lease is
released, so another worker can take over at once. ``Held.fence`` goes into the protected
writes' transactions, so even a worker that has not yet noticed the loss commits nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tlsrpt_tui.store import leases as db
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.store.leases import IDLE, WORKING, Lease, LeaseLost

__all__ = ["IDLE", "WORKING", "Held", "Lease", "LeaseLost", "Leaser", "standby_poll"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Default lease lifetime: a dead worker's work is taken over this long after its last
#: renewal (at once when it ran on the same host).
LEASE_SECONDS = 60.0


def standby_poll(ttl: float) -> float:
    """How often a worker without the lease looks again: a quarter of its lifetime, 1–15 s."""
    return min(15.0, max(1.0, ttl / 4))


class Held:
    """A lease this worker holds inside ``Leaser.hold``."""

    def __init__(self, leaser: Leaser, lease: Lease) -> None:
        self.leaser = leaser
        self.lease = lease
        self.lost = False

    @property
    def name(self) -> str:
        return self.lease.name

    def fence(self, store: Store) -> None:
        """Inside a protected write's transaction: LeaseLost unless still ours."""
        db.check_held(store, self.lease.name, self.leaser.holder)

    async def set_state(self, state: str) -> None:
        """Renew now with a new state (``working`` / ``idle``)."""
        if state != self.lease.state:
            self.lease = await self.leaser.renew(self.lease.name, state=state)


class Leaser:
    """The leases of one worker (holder id ``host:pid:random``)."""

    def __init__(self, store: Store, *, ttl: float = LEASE_SECONDS,
                 holder: str | None = None) -> None:
        self.store = store
        self.ttl = ttl
        self.holder = holder or db.new_holder_id()
        #: Leases held right now, by name (the metrics and status lines read it).
        self.mine: dict[str, Lease] = {}
        self._memory = str(store.path) == ":memory:"
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Store | None = None
        #: SQLite: waits for a lock held elsewhere as long as the caller's store would
        self._busy_ms: int | None = None
        if not self._memory and getattr(store, "dialect", "sqlite") == "sqlite":
            self._busy_ms = store.busy_ms

    @property
    def enabled(self) -> bool:
        """An in-memory store has no other worker: nothing to lease."""
        return not self._memory

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tlsrpt-lease")
        call = functools.partial(self._call, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._conn is None:
            self._conn = self.store.reopen()
            if self._busy_ms is not None:
                self._conn.set_busy_timeout(self._busy_ms)
        return fn(self._conn, *args, **kwargs)

    async def acquire(self, name: str, kind: str, *,
                      state: str = WORKING) -> tuple[bool, Lease]:
        """(True, lease) when this worker has it now; (False, the holder's lease) if not."""
        if not self.enabled:
            lease = Lease(name, kind, self.holder, state, 0.0, 0.0, float("inf"))
            self.mine[name] = lease
            return True, lease
        ok, lease = await self._run(db.try_acquire, name, kind, self.holder, self.ttl,
                                    state=state)
        if ok:
            self.mine[name] = lease
        else:
            self.mine.pop(name, None)
        return ok, lease

    async def renew(self, name: str, *, state: str | None = None) -> Lease:
        if not self.enabled:
            lease = self.mine[name]
            return Lease(lease.name, lease.kind, lease.holder, state or lease.state,
                         lease.acquired_at, lease.heartbeat_at, lease.expires_at)
        try:
            lease = await self._run(db.renew, name, self.holder, self.ttl, state=state)
        except LeaseLost:
            self.mine.pop(name, None)
            raise
        self.mine[name] = lease
        return lease

    async def release(self, name: str) -> None:
        self.mine.pop(name, None)
        if self.enabled:
            await self._run(db.release, name, self.holder)

    async def peek(self, name: str) -> Lease | None:
        if not self.enabled:
            return self.mine.get(name)
        return await self._run(db.get, name)

    @contextlib.asynccontextmanager
    async def hold(self, lease: Lease) -> AsyncIterator[Held]:
        """Keep an acquired lease renewed while the body runs; release it after.

        If a renewal finds it taken over, the body is cancelled and LeaseLost raised."""
        held = Held(self, lease)
        owner = asyncio.current_task()
        assert owner is not None
        beat = asyncio.create_task(self._beat(held, owner), name=f"lease {lease.name}")
        try:
            yield held
        except asyncio.CancelledError:
            if held.lost and owner.uncancel() == 0:
                raise LeaseLost(f"{lease.name}: lease lost to another worker") from None
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(BaseException):
                await beat
            try:
                await self.release(lease.name)
            except Exception as exc:  # it expires by itself
                log.warning("%s: lease not released: %s", lease.name, exc)

    async def _beat(self, held: Held, owner: asyncio.Task[Any]) -> None:
        if not self.enabled:
            return
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                held.lease = await self.renew(held.name)
            except LeaseLost:
                log.warning("%s: lease lost to another worker; stopping this work", held.name)
                held.lost = True
                owner.cancel()
                return
            except Exception as exc:  # a busy store: the next beat tries again
                log.warning("%s: lease not renewed: %s", held.name, exc)

    def _shut(self) -> None:
        """On the lease thread: close its connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close_now(self) -> None:
        """Close the connection and the thread from outside the loop (its leases expire, or
        were released already)."""
        if self._executor is not None:
            with contextlib.suppress(Exception):
                self._executor.submit(self._shut).result(timeout=10)
            self._executor.shutdown(wait=False)
            self._executor = None
            self._conn = None

    async def aclose(self) -> None:
        """Release every lease still held, close the connection and the thread."""
        for name in list(self.mine):
            with contextlib.suppress(Exception):
                await self.release(name)
        if self._executor is not None:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(self._executor, self._shut)
            self._executor.shutdown(wait=False)
            self._executor = None
            self._conn = None
