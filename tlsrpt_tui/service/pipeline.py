"""The ingest pipeline of an IMAP sync: network on the loop, parsing in worker processes, one
SQLite writer thread.

Why: a sync used to parse and commit each batch on the event loop that also reads the next
FETCH, and in the TUI also draws the screen and reads keys; a 30,000-mail first sync made
every key wait behind a batch's parsing. Now the three stages overlap:

1. the caller (sync_folder) reads bodies from the server on the loop;
2. a batch of any size is handed to worker processes (``ingest._PreparePool``, the machinery
   of ``import --jobs``) for the CPU-bound part: parsing, hashing, compressing;
3. ONE writer thread with its own SQLite connection stores each batch, its prepared results
   and the folder's new UIDVALIDITY/UID position in one transaction, in the order the batches
   were fetched.

Backpressure: the caller keeps at most ``depth`` batches between stage 1 and a finished
commit (``submit`` + ``drain``), so a fast server cannot fill memory while the parser or the
disk lag behind. Crash-safety is unchanged: the position moves only inside a batch's commit,
so a kill at any point loses at most the batches not yet committed, which the next sync
fetches again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tlsrpt_tui.core.model import RawInput
from tlsrpt_tui.core.parse import Limits
from tlsrpt_tui.service.dkim import DkimKeys
from tlsrpt_tui.service.ingest import Prepared, _PreparePool, default_limits
from tlsrpt_tui.store.database import Store

T = TypeVar("T")

#: Batches smaller than this are parsed by the writer thread itself: handing a handful of
#: messages (an IDLE wake-up) to another process costs more than it saves.
MIN_BATCH_FOR_WORKERS = 20

#: Batches between the network and a finished commit (fetched, being parsed, being written).
#: Why 3: with 2, the next batch went to the parsers only once the batch before the one they
#: were parsing had been committed, so whenever a commit took about as long as a parse (500
#: mails: ~0.1 s each on an idle 2-core machine) the parsers sat idle between batches; a
#: third batch keeps work queued for them (bench_sync, 10,000 mails: 6.4-6.6 s -> 5.6-6.0 s).
#: A batch is bounded in count and bytes (``sync.BATCH_BYTES``), so memory stays bounded.
DEPTH = 3

#: The writer connection's page cache (KiB). Why: with SQLite's default (2,000 KiB) a batch's
#: inserts into the input and report indices evicted pages that the next statements of the
#: same batch needed again, each read back with a system call: 10,000 of bench_import.py's
#: mails read 181 MB (44,000 reads) into a 30 MB store; with 8 MiB 72 MB (17,500), with 16
#: or 64 MiB 63 MB (15,400: the checkpoints' copying of the WAL, whatever the cache). Not
#: more: the cache fills with every page a sync or import touches and lives as long as its
#: pipeline, and 16 MiB made the import's peak RSS 15 MiB higher (48 -> 64 MiB).
WRITER_CACHE_KIB = 8 * 1024


def tune_writer(store: Store) -> None:
    """The writer connection's settings (the pipeline's, and bench_writer.py's).

    Not a larger WAL between checkpoints (``wal_autocheckpoint``): with 8,192 pages instead
    of SQLite's 1,000 the writer spent ~0.1 s less system time on 10,000 mails, but the last
    connection's close then checkpointed up to 32 MiB at the end of a one-shot sync or
    import, 0.27-0.33 s instead of 0.02 s, with every other process already done."""
    store.set_cache_kib(WRITER_CACHE_KIB)


#: handle() -> prepared results in input order, or None when they must be computed while
#: storing (called on the writer thread; it may block there, never on the loop).
PreparedHandle = Callable[[], list[Prepared] | None]

#: parts() -> each chunk of a batch with its prepared results (None: to be computed while
#: storing), in input order, each as soon as it is ready (on the writer thread, as above).
PreparedParts = Callable[[], Iterator[tuple[list[RawInput], list[Prepared] | None]]]


def tune_gc_for_bulk_ingest() -> None:
    """For a one-shot ``import`` or ``sync``, before its parser processes are forked (they
    inherit it): the modules' objects move out of the collector's sight, and its youngest
    generation is collected every 20,000 allocations instead of 700.

    Why: a batch allocates rows, tuples and results by the ten thousand, nearly all freed by
    their reference counts, yet each 700 allocations started a collection, and each full one
    walked every object of the ~60 loaded modules again: ~0.3 s of the main process's ~3 s
    for 10,000 mails. Cycles are still collected, just in fewer, larger passes. Not for the
    TUI or ``watch``, which live for days."""
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def default_workers() -> int:
    """Parser processes: the CPUs but one (the loop and the writer need one), at least 1."""
    return max(1, (os.cpu_count() or 2) - 1)


def one_shot_workers() -> int:
    """Parser processes of a one-shot ``import`` or ``sync``: one per CPU, at most 4; none on
    a single CPU (a process there only adds the pickling).

    Why not ``default_workers``: there is no screen to keep a core for, and the main process
    needs far less than one: its writer stores a mail in ~0.15 ms of CPU while parsing it
    takes ~0.4, so with one parser per CPU but one the writer spent most of a run waiting
    for parsed batches and a core sat half idle (bench/README.md, Import and Sync). The TUI
    and ``watch`` keep ``default_workers``."""
    cpus = os.cpu_count() or 1
    return min(4, cpus) if cpus > 1 else 0


class IngestPipeline:
    """Parser processes and the writer thread of one sync (use as an async context manager).

    ``store`` names the database: the writer opens its own connection to the same file (an
    in-memory store has no second connection, so its one connection is then used by the
    writer thread, and the caller must not use it meanwhile).
    """

    def __init__(self, store: Store, *, workers: int | None = None,
                 limits: Limits | None = None, worker_niceness: int = 0) -> None:
        """``worker_niceness``: how much nicer than this process its parser processes run
        (for a one-shot ``import``: see ``IMPORT_WORKER_NICENESS``)."""
        self.store = store
        self.workers = default_workers() if workers is None else workers
        self.worker_niceness = worker_niceness
        self.limits = limits if limits is not None else default_limits()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tlsrpt-writer")
        self._conn: Store | None = None
        self._pool: _PreparePool | None = None
        self._shared = False  # the pool is preforked_workers' (not ours to close)
        self._failed: str | None = None
        #: the writer waits for a lock held elsewhere as long as the caller's store would
        self._busy_ms = store.busy_ms if store.dialect == "sqlite" else 0

    # -- stage 2: parsing ------------------------------------------------------------------

    def prepare(self, raws: list[RawInput], keys: DkimKeys | None = None) -> PreparedHandle:
        """Start preparing ``raws`` in the worker processes (parsing, hashing, compressing and,
        with ``keys``, DKIM verification); small batches are left to the writer (the handle
        then says None and the writer prepares them itself with the same ``keys``)."""
        if self.workers <= 0 or len(raws) < MIN_BATCH_FOR_WORKERS:
            return lambda: None
        try:
            if self._pool is None:
                self.start_workers()
            assert self._pool is not None
            handle = self._pool.submit(raws, keys)
        except Exception:  # no processes on this system: the writer parses
            return lambda: None

        def result() -> list[Prepared] | None:
            try:
                return handle()
            except Exception:  # a parser crash inside a chunk: the writer redoes it per input
                return None

        return result

    def prepare_parts(self, raws: list[RawInput],
                      keys: DkimKeys | None = None) -> PreparedParts:
        """``prepare``, its results handed over chunk by chunk as the workers finish them.

        Why: ``import`` stores each chunk as soon as it is parsed (inside its batch's one
        transaction) instead of waiting for the batch's last chunk: the writer starts sooner
        and the run's last batch is written while its last chunks are still being parsed,
        not all after them on one core."""
        def unparsed() -> Iterator[tuple[list[RawInput], list[Prepared] | None]]:
            yield raws, None

        if self.workers <= 0 or len(raws) < MIN_BATCH_FOR_WORKERS:
            return unparsed
        try:
            if self._pool is None:
                self.start_workers()
            assert self._pool is not None
            return self._pool.submit(raws, keys).parts
        except Exception:  # no processes on this system: the writer parses
            return unparsed

    def start_workers(self) -> None:
        """Start the parser processes now (``prepare`` does it at the first big batch).

        They are forked from this process while it runs no other thread (a plain ``import``
        before its first key lookup: cheap, the modules are loaded already); otherwise from a
        clean fork server, never from a process running threads (the loop's helpers, the
        writer, a UI), where a fork could copy a lock some thread holds."""
        if self._pool is not None or self.workers <= 0:
            return
        shared = _SHARED[0]
        if (shared is not None and shared.limits == self.limits
                and not getattr(shared.executor, "_broken", False)):
            self._pool, self._shared = shared, True  # forked by ``preforked_workers``
            return
        method = "fork" if threading.active_count() == 1 else "forkserver"
        self._pool = _PreparePool(self.workers, self.limits, method=method,
                                  niceness=self.worker_niceness)
        if method == "fork":
            self._pool.executor.submit(int)  # forks the workers now, while no thread runs

    # -- stage 3: the writer -----------------------------------------------------------------

    def _writer_store(self) -> Store:
        """The writer's connection (on the writer thread only)."""
        if self._conn is None:
            memory = str(self.store.path) == ":memory:"
            self._conn = self.store if memory else self.store.reopen()
            if self._conn.dialect == "sqlite":
                self._conn.set_busy_timeout(self._busy_ms)
                if not memory:
                    tune_writer(self._conn)
        return self._conn

    def write(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue fn(writer store, *args) on the writer thread; writes run in the order they
        were queued. Once one raised, every later one raises too without running: a batch
        must never be committed (and the folder's position moved past) after an earlier
        batch failed to commit."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._writer, functools.partial(self._run, fn, args))

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self._failed is not None:
            raise RuntimeError(f"not written: an earlier batch failed ({self._failed})")
        try:
            return fn(self._writer_store(), *args)
        except BaseException as exc:
            self._failed = f"{type(exc).__name__}: {exc}"
            raise

    # -- lifetime ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for queued writes, then stop the workers and the writer."""

        def shut() -> None:
            if self._conn is not None and self._conn is not self.store:
                self._conn.close()
            self._conn = None

        with contextlib.suppress(RuntimeError):
            await asyncio.get_running_loop().run_in_executor(self._writer, shut)
        self._writer.shutdown(wait=False)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if not self._shared:
                await asyncio.to_thread(pool.close)

    async def __aenter__(self) -> IngestPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


#: The parser processes ``preforked_workers`` started, while it runs (a one-element list: a
#: module-level slot the context manager fills and empties).
_SHARED: list[_PreparePool | None] = [None]


@contextlib.contextmanager
def preforked_workers(workers: int | None = None,
                      limits: Limits | None = None) -> Iterator[None]:
    """Fork the parser processes now, for every pipeline started inside this block.

    Why: a pipeline started inside an event loop finds threads running (the loop's resolver
    and secret look-ups, its own writer) and so starts its processes from a fork server: a
    fresh interpreter that imports the package again (~0.3 s of CPU, during which the loop
    waits for it), once per folder. A one-shot command (``sync``) calls this before
    ``asyncio.run``, while it runs no thread, so the processes are forked from it as
    ``import``'s are, once for all its folders. Does nothing when a thread runs already or
    no workers are wanted; a pool that broke (a worker killed) is not reused.
    """
    n = default_workers() if workers is None else workers
    if n <= 0 or _SHARED[0] is not None or threading.active_count() != 1:
        yield
        return
    pool = _PreparePool(n, limits if limits is not None else default_limits(), method="fork")
    try:
        pool.executor.submit(int)  # forks the workers now, while no thread runs
        _SHARED[0] = pool
        yield
    finally:
        _SHARED[0] = None
        pool.close()
