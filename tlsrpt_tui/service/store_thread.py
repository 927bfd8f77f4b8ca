"""One thread that owns a store connection; the event loop awaits the store work it hands over.

Why: ``watch`` shares one event loop among every IDLE connection, check, alert delivery and
the HTTPS receiver; a statement run there (a scan of a large backlog, a slow disk, a
PostgreSQL round trip) stalls all of them (project rule: never block the event loop). Why ONE
thread for the connection, not a pool: transactions on one connection must never interleave,
and calls are answered in the order they were made (an alert is considered after the check
that raised it was stored). The connection is used from this thread only, once it has one.

The ingest writer (service/pipeline.py) and the leases (service/leasing.py) keep their own
threads and connections: their work must not wait behind this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from tlsrpt_tui.store.database import Store

T = TypeVar("T")


class StoreThread:
    """Runs store work on one thread of its own, over ``store`` (the caller's connection,
    which nothing else may use meanwhile)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Queue fn(*args, **kwargs) now (calls run in the order they were queued); await the
        result, or leave it (see ``spawn``)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tlsrpt-store")
        call = functools.partial(fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs) on the store's thread; its result or its exception.

        A caller cancelled meanwhile (SIGTERM, a lost lease) still waits for the call to end
        and then sees the cancellation: as when the work ran on the loop, nothing the caller
        does next (release a lease, send again) overtakes what it wrote (an alert marked
        delivered), and the connection is never closed under a transaction."""
        future = self.submit(fn, *args, **kwargs)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait({future})
            raise

    async def aclose(self) -> None:
        """Wait for the work queued (a cancelled wait does not stop a call already running:
        its transaction ends before the connection is closed by its owner), then stop."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        with contextlib.suppress(RuntimeError):
            await asyncio.shield(asyncio.get_running_loop().run_in_executor(executor, _nothing))
        executor.shutdown(wait=True)


def _nothing() -> None:
    return None


def logged(future: Future[Any] | asyncio.Future[Any], log: Any, what: str) -> None:
    """Log a failure of store work nobody awaits (``what`` names it)."""

    def done(f: Any) -> None:
        if f.cancelled():
            return
        exc = f.exception()
        if exc is not None:
            log.warning("%s: %s: %s (tried again at the next event)", what,
                        type(exc).__name__, exc)

    future.add_done_callback(done)
