"""The TUI's data access: every store call of the screens, run off the event loop.

The UI declares what it needs as a Protocol (``ui.facade.ReportService``); this is its
implementation over service/ and store/. Each call runs on one thread of its own with its own
SQLite connection (WAL: readers never wait for the sync's writer) and returns plain data
(service and core dataclasses), so the loop that draws the screen and reads keys never
executes SQL, and no screen or widget holds a ``Store``.

One thread, not a pool: SQLite connections are single-threaded, the reads are short, and calls
are answered in the order they were made (a filter keystroke's page is never overtaken by an
older one's).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from tlsrpt_tui.core import tables
from tlsrpt_tui.core.findings import DomainStatus
from tlsrpt_tui.core.model import DkimVerdict, Report
from tlsrpt_tui.service import queries
from tlsrpt_tui.service.config import AccountSettings, CheckSettings
from tlsrpt_tui.store import checks as stored_checks
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.changes import ChangeFeed
from tlsrpt_tui.store.database import Store, StoreError, open_store
from tlsrpt_tui.store.location import StoreLocation

__all__ = ["StoreBackend", "StoreError", "open_backend"]

T = TypeVar("T")

#: table kind -> (keys query, rows-by-key query, all-rows query, row type)
TABLES: dict[str, tuple[Callable[..., Iterator[tuple[int, int, int]]],
                        Callable[..., list[Any]], Callable[..., Iterator[Any]],
                        type[tables.Row]]] = {
    "overview": (queries.overview_keys, queries.overview_rows_by_key, queries.overview_rows,
                 tables.OverviewRow),
    "policies": (queries.policy_keys, queries.policy_rows_by_key, queries.policy_rows,
                 tables.PolicyRow),
    "failures": (queries.failure_keys, queries.failure_rows_by_key, queries.failure_rows,
                 tables.FailureRow),
}


@dataclass(frozen=True, slots=True)
class KeysChunk:
    """A run of a table's row keys, in table order (the Total comes from table_total)."""

    keys: array[int]


@dataclass(frozen=True, slots=True)
class StoredCheck:
    status: DomainStatus
    previous: DomainStatus | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class TimedCheck:
    """A timed check's outcome: checked here (``by_other`` None), or left to another worker
    that holds the domain's check lease or checked it less than an interval ago (then the
    stored result, if any, and when the domain is due)."""

    status: DomainStatus | None
    previous: DomainStatus | None
    checked_at: datetime | None
    by_other: str | None = None
    #: seconds until it is worth looking again (another worker's: when it is due)
    due_in: float = 0.0


@dataclass(frozen=True, slots=True)
class ReportDetail:
    """A report and the stored input it came from (the raw mail is read only when asked)."""

    report: Report
    input_pk: int
    source: str
    #: The DKIM verdict stored with the input on arrival (None: not mail, or not verified).
    dkim: DkimVerdict | None = None


@dataclass(frozen=True, slots=True)
class RawInputView:
    source: str
    error: str | None
    payload: bytes


class StoreBackend:
    """``ui.facade.ReportService`` over a store file.

    ``store`` is the caller's connection; it is used only by the sync (on the caller's loop)
    until the ingest pipeline owns the writes. Reads use a second connection to the same file
    opened on the backend's thread (an in-memory store has no second connection: its one
    connection is then used from that thread, so nothing else may use it meanwhile).
    """

    def __init__(self, store: Store, *, owns_store: bool = False) -> None:
        """``owns_store``: close() closes ``store`` too (else its opener does)."""
        self.store = store
        self._owns_store = owns_store
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tlsrpt-store")
        self._reader: Store | None = None
        #: a big table's keys stream on a thread and connection of their own, so the rows of
        #: the window on screen are never read after a run of 20,000 keys (a file store only)
        self._keys_executor = ThreadPoolExecutor(1, thread_name_prefix="tlsrpt-keys")
        self._keys_reader: Store | None = None
        #: the change feed listens on a thread (and a connection) of its own: its waits
        #: must not hold up the reads
        self._feed = ChangeFeed(store)
        self._feed_thread: ThreadPoolExecutor | None = None
        self._closed = False
        self._syncer: Any = None  # service.sync_process.SyncProcess, once a sync is asked
        #: the timed checks' leases (service.leasing.Leaser), once one is asked
        self._leaser: Any = None

    # -- plumbing -------------------------------------------------------------------------

    def _conn(self) -> Store:
        """The reader connection (on the backend's thread only)."""
        if self._reader is None:
            if str(self.store.path) == ":memory:":
                self._reader = self.store
            else:
                self._reader = self.store.reopen()
        return self._reader

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(reader store, *args) on the backend's thread."""
        return await self._run(lambda: fn(self._conn(), *args))

    def close(self) -> None:
        """Close the reader connection, stop the thread, and close the store if owned."""
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._reader is not None and self._reader is not self.store:
                self._reader.close()
            self._reader = None

        def shut_keys() -> None:
            if self._keys_reader is not None:
                self._keys_reader.close()
            self._keys_reader = None

        with contextlib.suppress(RuntimeError):
            self._keys_executor.submit(shut_keys).result()
        self._keys_executor.shutdown(wait=True)
        with contextlib.suppress(RuntimeError):
            self._executor.submit(shut).result()
        self._executor.shutdown(wait=True)
        if self._feed_thread is not None:  # a wait in progress ends within its timeout
            with contextlib.suppress(RuntimeError):
                self._feed_thread.submit(self._feed.close).result()
            self._feed_thread.shutdown(wait=True)
        if self._syncer is not None:  # its child ends, releasing its leases
            self._syncer.close()
        if self._leaser is not None:  # its leases are released after each check
            self._leaser.close_now()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> StoreBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inbox ----------------------------------------------------------------------------

    async def inbox_page(
        self, limit: int, text_filter: str = "", after: tuple[str, int] | None = None,
        oldest_first: bool = False,
    ) -> list[queries.InboxRow]:
        """Newest first (or oldest); ``after`` is the (start, pk) of the last row shown."""
        return await self._read(
            lambda s: queries.inbox_page(s, limit=limit, text_filter=text_filter or None,
                                         after=after, oldest_first=oldest_first)
        )

    async def unreadable(self, limit: int = 100, *,
                         other: bool = False) -> list[queries.UnreadableInput]:
        """Inputs that could not be read, newest first (``other``: mail recorded as not a
        report)."""
        return await self._read(lambda s: queries.unreadable_inputs(s, limit, other=other))

    async def is_empty(self) -> bool:
        def empty(s: Store) -> bool:
            return queries.inbox_count(s) == 0 and queries.unreadable_count(s) == 0

        return await self._read(empty)

    # -- totals ---------------------------------------------------------------------------

    async def domain_charts(
        self, domains: Sequence[str], today: date, days: int = 30, unconfigured: int = 5
    ) -> list[tuple[str, list[queries.DayTotal]]]:
        """(domain, sessions per day over the last ``days`` days) for each of ``domains``;
        with none given, for the ``unconfigured`` reported domains with the most reports."""

        def charts(s: Store) -> list[tuple[str, list[queries.DayTotal]]]:
            names = list(domains)
            if not names:  # the busiest over the charts' own window
                since = today - timedelta(days=max(days, 1) - 1)
                names = queries.busiest_domains(s, unconfigured, since)
            return [(d, queries.daily_totals(s, d, days, today, include_forged=False))
                    for d in names]

        return await self._read(charts)

    async def forged_count(self, since: date, until: date) -> int:
        """Reports starting in [since, until] whose mail failed DKIM (the charts leave them
        out and say how many)."""
        return await self._read(queries.forged_report_count, since, until)

    # -- one report -----------------------------------------------------------------------

    async def report(self, report_pk: int) -> ReportDetail | None:
        def detail(s: Store) -> ReportDetail | None:
            found = queries.report_detail(s, report_pk)
            if found is None:
                return None
            report, meta = found
            return ReportDetail(report, meta.pk, meta.source, meta.dkim)

        return await self._read(detail)

    async def raw_input(self, input_pk: int) -> RawInputView | None:
        def raw(s: Store) -> RawInputView | None:
            meta = db.get_input(s, input_pk)
            payload = queries.raw_input_bytes(s, input_pk)
            if meta is None or payload is None:
                return None
            return RawInputView(meta.source, meta.error, payload)

        return await self._read(raw)

    # -- the Overview and Policy Summary tables -------------------------------------------

    async def table_keys(
        self, kind: str, flt: queries.TableFilter, chunk: int = 20000, first: int = 500
    ) -> AsyncIterator[KeysChunk]:
        """The table's row keys in order, each run read on the thread: ``first`` keys (the
        first window's worth, so the rows show at once), then ``chunk`` at a time while the
        caller already shows them."""
        own_lane = str(self.store.path) != ":memory:"
        executor = self._keys_executor if own_lane else self._executor

        def keys_conn() -> Store:
            if not own_lane:
                return self._conn()
            if self._keys_reader is None:
                self._keys_reader = self.store.reopen()
            return self._keys_reader

        async def run(fn: Callable[..., T], *args: Any) -> T:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(executor, functools.partial(fn, *args))

        rows = await run(lambda: queries.table_key_cursor(keys_conn(), kind, flt))

        def take(n: int) -> KeysChunk:
            return KeysChunk(array("q", [row[0] for row in rows.fetchmany(n)]))

        try:
            size = first
            while True:
                part = await run(take, size)
                if part.keys:
                    yield part
                if len(part.keys) < size:
                    return
                size = chunk
        finally:
            with contextlib.suppress(RuntimeError):
                executor.submit(rows.close)  # type: ignore[attr-defined]

    async def table_total(self, kind: str, flt: queries.TableFilter, *,
                          include_forged: bool = True) -> queries.TableTotal:
        """The table's row count and session sums under ``flt``, from the day totals (known
        at once, before its keys are read); ``include_forged=False`` leaves out the rows of
        reports whose mail failed DKIM."""
        return await self._read(functools.partial(queries.table_total,
                                                  include_forged=include_forged), kind, flt)

    async def table_rows(self, kind: str, keys: Sequence[int]) -> list[tables.Row]:
        """The rows of these keys, in the order given."""
        by_key = TABLES[kind][1]
        return await self._read(by_key, list(keys))

    async def forged_reports(self, report_pks: Sequence[int]) -> set[int]:
        """Which of these reports came in mail whose DKIM failed (marked in the tables)."""
        return await self._read(queries.forged_report_pks, list(report_pks))

    async def export_table(self, kind: str, flt: queries.TableFilter, fmt: str, path: Path,
                           overwrite: bool = False) -> int:
        """Every row of the table under ``flt`` written to ``path`` as ``fmt`` (streamed, the
        same bytes as ``tlsrpt-tui overview|policies --format fmt``); returns the bytes."""
        _keys, _by_key, all_rows, row_type = TABLES[kind]

        def write(s: Store) -> int:
            return write_chunks(tables.render(all_rows(s, flt), row_type, fmt), path, overwrite)

        return await self._read(write)

    async def export_inbox(self, text_filter: str, fmt: str, path: Path,
                           overwrite: bool = False) -> int:
        """Every inbox line matching the filter (not only the page on screen), streamed."""

        def write(s: Store) -> int:
            rows = queries.inbox_export_rows(s, text_filter)
            chunks = tables.render_columns(queries.INBOX_EXPORT_COLUMNS, rows, fmt)
            return write_chunks(chunks, path, overwrite)

        return await self._read(write)

    # -- live checks ----------------------------------------------------------------------

    async def stored_checks(self, domains: Sequence[str]) -> dict[str, StoredCheck]:
        """domain -> its latest stored result and the one before (domains never checked are
        left out)."""

        def load(s: Store) -> dict[str, StoredCheck]:
            out: dict[str, StoredCheck] = {}
            for domain in domains:
                latest = stored_checks.latest(s, domain)
                if latest is None:
                    continue
                prev = stored_checks.previous(s, domain)
                out[domain] = StoredCheck(
                    DomainStatus.from_json(latest),
                    DomainStatus.from_json(prev) if prev else None,
                    _parse_when(latest["checked_at"]),
                )
            return out

        return await self._read(load)

    async def check_domain(
        self, domain: str, settings: CheckSettings
    ) -> tuple[DomainStatus, DomainStatus | None]:
        """Run the live check of one domain (network on the loop, store on the thread), store
        it, and return (status, the previous stored status)."""
        from tlsrpt_tui.service import checks

        last = await self._read(stored_checks.latest, domain)
        options = checks.CheckOptions.from_settings(settings)
        status = await checks.check_domain(domain, options, previous=last)
        await self._read(stored_checks.save, status.to_json())
        return status, DomainStatus.from_json(last) if last else None

    async def timed_check(self, domain: str, settings: CheckSettings, interval: float,
                          lease_seconds: float) -> TimedCheck:
        """The TUI's timed check, shared with every ``watch`` (and TUI) on the store the way
        they share it among themselves (service/monitor.py): under the domain's check lease,
        and only when its last stored check, by whoever made it, is ``interval`` old. Else
        the stored result is returned, with who has the domain and when it is due."""
        from tlsrpt_tui.service import checks
        from tlsrpt_tui.service.leasing import Leaser, standby_poll

        if self._leaser is None:
            self._leaser = Leaser(self.store, ttl=lease_seconds)
        leaser = self._leaser
        ok, lease = await leaser.acquire(f"check:{domain}", "check")
        if not ok:
            return await self._stored_check(domain, lease.who, standby_poll(leaser.ttl))
        async with leaser.hold(lease) as held:
            # read under the lease: another worker may have just stored a check
            due_in = await self._read(stored_checks.due_in, domain, interval,
                                      datetime.now(UTC))
            if due_in > 0:
                return await self._stored_check(domain, "another worker", due_in)
            last = await self._read(stored_checks.latest, domain)
            options = checks.CheckOptions.from_settings(settings)
            status = await checks.check_domain(domain, options, previous=last)
            await self._read(_save_fenced, status.to_json(), held.fence)
        return TimedCheck(status, DomainStatus.from_json(last) if last else None,
                          datetime.now(UTC), None)

    async def _stored_check(self, domain: str, who: str, due_in: float) -> TimedCheck:
        found = (await self.stored_checks([domain])).get(domain)
        if found is None:
            return TimedCheck(None, None, None, who, due_in)
        return TimedCheck(found.status, found.previous, found.checked_at, who, due_in)

    # -- readiness and records ------------------------------------------------------------

    async def readiness(self, domains: Sequence[str] | None, today: date,
                        days: int = 30) -> list[Any]:
        """One enforce-readiness answer per policy type of ``domains`` (None: every reported
        domain): SQL aggregates, on the thread."""
        from tlsrpt_tui.service.readiness import readiness

        return await self._read(lambda s: readiness(s, domains, today=today, days=days))

    async def records(self, domain: str, mode: str | None, settings: CheckSettings,
                      now: datetime, *, live: bool = True) -> Any:
        """The records to publish: from a live check (network on the loop), or with
        ``live=False`` from the last stored check (None if never checked)."""
        from tlsrpt_tui.service import records

        if live:
            from tlsrpt_tui.service.checks import CheckOptions

            options = CheckOptions.from_settings(settings)
            return await records.generate(domain, options, mode=mode, now=now)
        return await self._read(lambda s: records.from_stored(s, domain, mode=mode, now=now))

    # -- alerts and other processes ------------------------------------------------------

    async def recent_alerts(self, limit: int = 200) -> list[Any]:
        """Alerts newest first with their delivery state per channel (store.alerts.ListedAlert)."""
        from tlsrpt_tui.service.alerts import recent_alerts

        return await self._read(recent_alerts, limit)

    async def failing_channels(self) -> dict[str, dict[str, Any]]:
        """Alert channel name -> {"since", "error"} for each channel failing right now."""
        from tlsrpt_tui.service.alerts import failing_channels

        return await self._read(failing_channels)

    async def data_version(self) -> int:
        """The store's change counter as the reader connection sees it: it moves whenever
        ANOTHER connection commits (``watch``, ``import``, this app's own sync)."""
        return await self._read(lambda s: s.data_version())

    async def wait_for_change(self, timeout: float) -> bool:
        """True as soon as another connection commits a change the screens show (PostgreSQL
        LISTEN/NOTIFY, a moment after the commit); False after ``timeout`` seconds without
        one, and always with SQLite, whose change counter (``data_version``) is polled
        instead. Raises when the feed's connection dropped (poll meanwhile)."""
        if not self._feed.live:
            await asyncio.sleep(timeout)
            return False
        if self._feed_thread is None:
            self._feed_thread = ThreadPoolExecutor(1, thread_name_prefix="tlsrpt-feed")
        loop = asyncio.get_running_loop()
        return bool(await loop.run_in_executor(self._feed_thread, self._feed.wait, timeout))

    # -- IMAP -----------------------------------------------------------------------------

    def _sync_process(self) -> Any:
        """The child process the TUI's syncs run in (service/sync_process.py): the IMAP
        reading, the parsing and the commits stay off the screen's process."""
        if self._syncer is None:
            if str(self.store.path) == ":memory:":
                raise StoreError("an in-memory store cannot be synced: the sync runs in a "
                                 "process of its own, which opens the store itself")
            from tlsrpt_tui.service.sync_process import SyncProcess

            self._syncer = SyncProcess(self.store.location, niceness=SYNC_NICENESS)
        return self._syncer

    async def sync_all(self, accounts: Sequence[AccountSettings],
                       on_progress: Callable[[Any], None],
                       resolver: str | None = None) -> Any:
        return await self._sync_process().sync_all(accounts, on_progress, resolver)

    async def watch(self, accounts: Sequence[AccountSettings],
                    on_progress: Callable[[Any], None], supervisor: Any = None,
                    resolver: str | None = None) -> None:
        """Keep every folder in sync (IMAP IDLE) until cancelled; the sync process runs as a
        worker of ``supervisor`` (service.supervise.Supervisor) when given, and its folder
        watchers' states show there."""
        await self._sync_process().watch(accounts, on_progress, supervisor, resolver)


#: How much nicer than the screen the TUI's sync process runs (service/sync_process.py).
SYNC_NICENESS = 10


def write_chunks(chunks: Iterable[str], path: Path, overwrite: bool = False) -> int:
    """Write text chunks to ``path`` as UTF-8 as they come; returns the bytes written.

    An existing file is replaced only with ``overwrite`` (FileExistsError otherwise), and then
    through a temporary file renamed over it, so a failed export never leaves half a file."""
    if not overwrite:
        with path.open("xb") as out:  # "x": fails if the file appeared meanwhile
            return _copy(chunks, out)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as out:
            size = _copy(chunks, out)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def _copy(chunks: Iterable[str], out: BinaryIO) -> int:
    size = 0
    for text in chunks:
        data = text.encode("utf-8")
        out.write(data)
        size += len(data)
    return size


def open_backend(db_path: StoreLocation | Path | str | None = None) -> StoreBackend:
    """Open the store (``StoreError`` if it cannot be) and the backend over it."""
    return StoreBackend(open_store(db_path), owns_store=True)


def _parse_when(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _save_fenced(store: Store, result: dict[str, Any], fence: Callable[[Store], None]) -> None:
    """Store a check result unless the domain's lease was lost meanwhile (fence)."""
    with store.transaction():
        fence(store)
        stored_checks.insert(store, result)
