"""Ingesting inputs into the store: the one use case ``import`` and the IMAP sync share.

The order is deliberate: an input's raw bytes are stored first (with where they came from),
then the reports parsed from them, so a message that cannot be parsed stays stored with its
error and shows as "unreadable: why" — nothing is dropped. Mail that is not TLS-RPT at all
(DMARC, ordinary mail) is left alone and not stored.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from tlsrpt_tui import __version__
from tlsrpt_tui.core.model import InputStatus, ParsedInput, RawInput
from tlsrpt_tui.service.orphans import die_with_parent
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store

if TYPE_CHECKING:
    from concurrent.futures import Future

    from tlsrpt_tui.core.model import DkimVerdict, Report
    from tlsrpt_tui.core.parse import Limits
    from tlsrpt_tui.service.dkim import DkimKeys


class OutcomeKind(StrEnum):
    NEW = "new"  # at least one report was new
    DUPLICATE = "duplicate"  # every report was already stored
    REJECTED = "rejected"  # could not be read (stored with its error when there were bytes)
    NOT_REPORT = "not-report"  # not TLS-RPT mail; left alone


def source_line(source: str, reason: str) -> str:
    """``source: reason``, without repeating the source when the reason already starts with it.

    The line goes to a terminal and sources are file names anyone can choose (a mail
    attachment saved to disk, a Maildir file): non-printable characters (ESC, BEL, C1, bidi
    overrides, undecodable bytes) are shown as escapes like ``\\x1b``, never sent as is.
    """
    line = reason if reason.startswith(f"{source}: ") else f"{source}: {reason}"
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    source: str
    kind: OutcomeKind
    new_reports: int = 0
    duplicate_reports: int = 0
    #: One line: which part and why (rejected, not-report).
    error: str | None = None
    #: Errors of parts that did not stop the others (e.g. one bad zip member).
    part_errors: tuple[str, ...] = ()
    #: The stored raw input row, when bytes were stored.
    input_pk: int | None = None

    @property
    def line(self) -> str:
        """``source: reason`` for the error stream (the source named once)."""
        return source_line(self.source, self.error or str(self.kind))


@dataclass(slots=True)
class IngestSummary:
    """Running totals over a stream; holds no per-input data except problem lines."""

    inputs: int = 0
    new: int = 0  # reports
    duplicate: int = 0  # reports
    rejected: int = 0  # inputs (also one whose part was refused, e.g. a bomb member of a zip)
    not_report: int = 0  # inputs
    #: ``source: reason`` for each rejected or not-report input, and each part error.
    problems: list[str] = field(default_factory=list)

    def add(self, outcome: IngestOutcome) -> None:
        self.inputs += 1
        self.new += outcome.new_reports
        self.duplicate += outcome.duplicate_reports
        if outcome.kind is OutcomeKind.REJECTED:
            self.rejected += 1
            self.problems.append(outcome.line)
        elif outcome.part_errors:
            # Some of it was refused (a zip member, an unstorable report): the input counts
            # as rejected and the run is not ok, though its other parts were imported.
            self.rejected += 1
        elif outcome.kind is OutcomeKind.NOT_REPORT:
            self.not_report += 1
            self.problems.append(outcome.line)
        for err in outcome.part_errors:
            self.problems.append(source_line(outcome.source, err))

    @property
    def ok(self) -> bool:
        """True when every input was a report (new or duplicate)."""
        return self.rejected == 0 and self.not_report == 0

    def line(self) -> str:
        text = f"{self.new} new, {self.duplicate} duplicate, {self.rejected} rejected"
        if self.not_report:
            text += f", {self.not_report} not a report"
        return text


def parser_version() -> str:
    from tlsrpt_tui.core import parse

    return str(getattr(parse, "PARSER_VERSION", __version__))


def default_limits() -> Limits:
    from tlsrpt_tui.core.parse import DEFAULT_LIMITS

    return DEFAULT_LIMITS


class Prepared(NamedTuple):
    """The CPU-bound part of ingesting one input: parsed, DKIM-verified, hashed and compressed.

    Kept apart from the writing so that a sync or an import does it in worker processes
    (service/pipeline.py) while the one SQLite writer stores the previous batch. A named
    tuple, not a dataclass: thousands of them pickle back from the workers, and a frozen slots
    dataclass unpickles through Python-level ``__setstate__`` (several times slower).
    """

    parsed: ParsedInput
    digest: bytes | None = None  # SHA-256 of the raw bytes (None: not to be stored)
    compressed: bytes | None = None  # the raw bytes as the store keeps them
    #: The DKIM verdict decided here (None: not mail, or no keys were given to verify with).
    dkim: DkimVerdict | None = None
    #: Per report of ``parsed``, in order: its rows ready to insert (``db.report_rows``), or
    #: one line saying why the store cannot hold it. Given, ``parsed`` carries no reports:
    #: the rows pickle back from a parser process several times cheaper than the reports.
    rows: tuple[db.ReportRows | str, ...] | None = None


def prepare(raw: RawInput, limits: Limits, keys: DkimKeys | None = None) -> Prepared:
    """Parse, hash and compress one input, compute its reports' rows and, given the batch's
    ``keys``, verify its DKIM signature (mail that is not a report is not stored, so it is
    neither verified nor hashed)."""
    from tlsrpt_tui.core.parse import parse_bytes

    parsed = parse_bytes(raw.data, raw.source, limits)
    if parsed.status is InputStatus.NOT_REPORT:
        return Prepared(parsed)  # not stored: spare the hashing and compression
    try:
        rows: tuple[db.ReportRows | str, ...] | None = _rows_of(parsed.reports)
    except _STORE_ERRORS:  # the writer meets it again and keeps the input as rejected
        rows = None
    else:  # the reports travel as rows (not dataclasses.replace: ~3 µs less per mail)
        parsed = ParsedInput(parsed.source, parsed.status, (), parsed.error, parsed.part_errors)
    return Prepared(
        parsed, hashlib.sha256(raw.data).digest(), db.compress(raw.data),
        keys.verdict(raw.data) if keys is not None else None, rows,
    )


def _rows_of(reports: Sequence[Report]) -> tuple[db.ReportRows | str, ...]:
    """Each report's rows, or why the store cannot hold it."""
    out: list[db.ReportRows | str] = []
    for report in reports:
        try:
            out.append(db.report_rows(report))
        except db.Unstorable as exc:
            out.append(f"report {report.report_id!r}: {exc}")
    return tuple(out)


def _ready_rows(ready: Prepared) -> tuple[db.ReportRows | str, ...]:
    """The input's report rows: as the parser process sent them, else computed here."""
    return ready.rows if ready.rows is not None else _rows_of(ready.parsed.reports)


def prepare_all(raws: Sequence[RawInput], limits: Limits,
                keys: DkimKeys | None = None) -> list[Prepared]:
    """``prepare`` over a chunk: one call (one pickle round trip) per chunk in a worker."""
    return [prepare(raw, limits, keys) for raw in raws]


def ingest_batch(
    store: Store,
    inputs: Sequence[RawInput],
    limits: Limits | None = None,
    prepared: Sequence[Prepared] | None = None,
    keys: DkimKeys | None = None,
) -> list[IngestOutcome]:
    """Parse and store each input; runs INSIDE the caller's transaction (none opened here).

    If storing an input fails (a value the database cannot hold, say), its partial rows are
    rolled back and it is kept as rejected with the reason, so one hostile input can never
    abort the caller's batch. The batch is first written whole under one SAVEPOINT (two
    statements per batch instead of two per input); only when one of its inputs fails is it
    rolled back and written again with a SAVEPOINT per input. ``prepared`` (one per input,
    in order) is the parsing already done elsewhere; without it each input is prepared here
    (and DKIM-verified with ``keys``).
    """
    lim = limits if limits is not None else default_limits()
    version = parser_version()
    ready = list(prepared) if prepared is not None else [prepare(r, lim, keys) for r in inputs]
    try:
        with store.savepoint("ingest_batch"):
            if store.dialect == "postgresql":
                return _store_batch_postgres(store, inputs, ready, version)
            return _store_batch_sqlite(store, inputs, ready, version)
    except _STORE_ERRORS + store.data_errors + (db.BatchUnsupported,):
        pass
    outcomes = []
    for raw, one in zip(inputs, ready, strict=True):
        try:
            with store.savepoint("ingest_one"):
                outcome = _store_parsed(store, raw, one, version)
        except _STORE_ERRORS + store.data_errors as exc:
            outcome = _store_failed(store, raw, version, exc)
        outcomes.append(outcome)
    return outcomes


#: What storing one input may raise besides the database's own data errors (a value it
#: cannot hold): the input is then kept as rejected with the reason.
_STORE_ERRORS: tuple[type[Exception], ...] = (OverflowError, ValueError, UnicodeError)


def _store_failed(store: Store, raw: RawInput, version: str, exc: Exception) -> IngestOutcome:
    error = f"cannot store: {type(exc).__name__}: {exc}"
    pk, _ = db.store_raw_input(
        store, source=raw.source, data=raw.data, origin=raw.origin,
        status=InputStatus.REJECTED, error=error, parser_version=version, dkim=raw.dkim,
    )
    return IngestOutcome(raw.source, OutcomeKind.REJECTED, error=error, input_pk=pk)


def _store_batch_postgres(store: Store, inputs: Sequence[RawInput], ready: Sequence[Prepared],
                          version: str) -> list[IngestOutcome]:
    """PostgreSQL: what _store_parsed does for each input, with the common case (a new input
    holding one report) sent in one round trip for each run of them (db.insert_new_mails);
    the rest, and an input whose bytes are stored already, take the ordinary path in their
    turn, so that of two inputs holding the same report the first one's is the new one, as
    input by input (one query first finds the inputs whose bytes are stored)."""
    outcomes: list[IngestOutcome | None] = [None] * len(inputs)
    fast: list[tuple[int, db.NewMail, tuple[str, ...]]] = []
    candidates: dict[int, tuple[db.NewMail, tuple[str, ...]]] = {}
    now = db.utc_now_iso()  # one clock reading for the batch (the commit is one moment)
    for n, (raw, one) in enumerate(zip(inputs, ready, strict=True)):
        parsed = one.parsed
        if parsed.status is not InputStatus.REPORT:
            continue
        rows = _ready_rows(one)
        if len(rows) == 1 and not isinstance(rows[0], str):
            dkim = one.dkim if one.dkim is not None else raw.dkim
            values = db.raw_input_values(
                source=raw.source, data=raw.data, origin=raw.origin, status=parsed.status,
                error=parsed.error, part_errors=parsed.part_errors, parser_version=version,
                digest=one.digest, compressed=one.compressed, dkim=dkim, imported_at=now)
            candidates[n] = (db.NewMail(values, rows[0], 0,
                                        dkim is not None and dkim.result == "fail"),
                             tuple(parsed.part_errors))
    seen = db.stored_input_keys(store, [mail.raw_values[8] for mail, _ in candidates.values()])

    def send_fast() -> None:
        stored = db.insert_new_mails(store, [mail for _, mail, _ in fast])
        for (n, _, part_errors), (input_pk, report_pk) in zip(fast, stored, strict=True):
            if input_pk is None:  # another writer stored the same bytes meanwhile
                raise db.BatchUnsupported("an input was stored by another writer")
            outcomes[n] = IngestOutcome(
                inputs[n].source,
                OutcomeKind.NEW if report_pk is not None else OutcomeKind.DUPLICATE,
                new_reports=int(report_pk is not None), duplicate_reports=int(report_pk is None),
                part_errors=part_errors, input_pk=int(input_pk))
        fast.clear()

    for n, (raw, one) in enumerate(zip(inputs, ready, strict=True)):
        candidate = candidates.get(n)
        if candidate is not None:
            key = (candidate[0].raw_values[8], candidate[0].raw_values[7])
            if key not in seen:
                seen.add(key)
                fast.append((n, *candidate))
                continue
        if one.parsed.status is InputStatus.NOT_REPORT:
            outcomes[n] = _not_report(raw, one.parsed)
            continue
        if fast:
            send_fast()
        outcomes[n] = _store_parsed(store, raw, one, version)
        if candidate is None and one.digest is not None:  # its bytes are stored now
            seen.add((one.digest, db.origin_key(raw.origin)))
    if fast:
        send_fast()
    return outcomes  # type: ignore[return-value]  # every one set above


def _store_batch_sqlite(store: Store, inputs: Sequence[RawInput], ready: Sequence[Prepared],
                       version: str) -> list[IngestOutcome]:
    """SQLite: what _store_parsed does for each input, written for the whole batch with one
    statement per table (db.insert_inputs: the same rows, ids and outcomes)."""
    outcomes: list[IngestOutcome | None] = [None] * len(inputs)
    stored: list[tuple[int, RawInput, _Plan]] = []
    now = db.utc_now_iso()  # one clock reading for the batch (the commit is one moment)
    for n, (raw, one) in enumerate(zip(inputs, ready, strict=True)):
        if one.parsed.status is InputStatus.NOT_REPORT:
            outcomes[n] = _not_report(raw, one.parsed)
        else:
            stored.append((n, raw, _plan(one)))
    new_inputs = [
        db.NewInput(
            db.raw_input_values(
                source=raw.source, data=raw.data, origin=raw.origin, status=plan.status,
                error=plan.error, part_errors=plan.part_errors, parser_version=version,
                digest=plan.ready.digest, compressed=plan.ready.compressed,
                dkim=plan.dkim(raw), imported_at=now),
            plan.dkim(raw), plan.storable if plan.status is not InputStatus.REJECTED else ())
        for _, raw, plan in stored]
    results = db.insert_inputs(store, new_inputs) if new_inputs else []
    for (n, raw, plan), (input_pk, new) in zip(stored, results, strict=True):
        outcomes[n] = plan.outcome(raw, input_pk, new)
    return outcomes  # type: ignore[return-value]  # every one set above


class _Plan(NamedTuple):
    """What storing one input writes, decided from its prepared parse (no store access)."""

    ready: Prepared
    status: InputStatus
    error: str | None
    part_errors: list[str]
    #: (index in the input, rows) of each report the store can hold
    storable: tuple[tuple[int, db.ReportRows], ...]

    def dkim(self, raw: RawInput) -> DkimVerdict | None:
        return self.ready.dkim if self.ready.dkim is not None else raw.dkim

    def outcome(self, raw: RawInput, input_pk: int, new: int) -> IngestOutcome:
        """The input's outcome once stored as ``input_pk`` with ``new`` of its reports new."""
        if self.status is InputStatus.REJECTED:
            return IngestOutcome(raw.source, OutcomeKind.REJECTED, error=self.error or "unreadable",
                                 part_errors=tuple(self.part_errors), input_pk=input_pk)
        return IngestOutcome(
            raw.source, OutcomeKind.NEW if new else OutcomeKind.DUPLICATE, new_reports=new,
            duplicate_reports=len(self.storable) - new, part_errors=tuple(self.part_errors),
            input_pk=input_pk)


def _plan(ready: Prepared) -> _Plan:
    """The status, error and reports to store for an input that is a report (or rejected)."""
    parsed = ready.parsed
    status, error = parsed.status, parsed.error
    rows = _ready_rows(ready)
    if len(rows) == 1 and not isinstance(rows[0], str) and not parsed.part_errors:
        return _Plan(ready, status, error, [], ((0, rows[0]),))  # the common case
    part_errors = list(parsed.part_errors)
    storable: list[tuple[int, db.ReportRows]] = []
    for index, one in enumerate(rows):
        if isinstance(one, str):
            part_errors.append(one)
        else:
            storable.append((index, one))
    if status is InputStatus.REPORT and not storable:
        status = InputStatus.REJECTED
        error = part_errors.pop() if part_errors else "no report found"
    return _Plan(ready, status, error, part_errors, tuple(storable))


def _not_report(raw: RawInput, parsed: ParsedInput) -> IngestOutcome:
    return IngestOutcome(raw.source, OutcomeKind.NOT_REPORT,
                         error=parsed.error or "not a TLS-RPT report")


def _store_parsed(store: Store, raw: RawInput, ready: Prepared, version: str) -> IngestOutcome:
    parsed = ready.parsed
    if parsed.status is InputStatus.NOT_REPORT:
        return _not_report(raw, parsed)
    plan = _plan(ready)
    status, error, part_errors = plan.status, plan.error, plan.part_errors
    input_pk, _created = db.store_raw_input(
        store,
        source=raw.source,
        data=raw.data,
        origin=raw.origin,
        status=status,
        error=error,
        part_errors=part_errors,
        parser_version=version,
        digest=ready.digest,
        compressed=ready.compressed,
        dkim=plan.dkim(raw),
    )
    new = 0
    if status is not InputStatus.REJECTED:
        for index, one in plan.storable:
            if db.insert_report_rows(store, one, input_pk, index) is not None:
                new += 1
    return plan.outcome(raw, input_pk, new)


def rejected_outcome(parsed: ParsedInput) -> IngestOutcome:
    """An input that never had bytes (an unreadable path): nothing to store, just report it."""
    kind = OutcomeKind.NOT_REPORT if parsed.status is InputStatus.NOT_REPORT else (
        OutcomeKind.REJECTED
    )
    return IngestOutcome(parsed.source, kind, error=parsed.error or "unreadable")


ProgressCallback = Callable[[IngestSummary], None]


def ingest_stream(
    store: Store,
    items: Iterable[RawInput | ParsedInput],
    limits: Limits | None = None,
    batch_size: int = 500,
    on_progress: ProgressCallback | None = None,
    on_outcome: Callable[[IngestOutcome], None] | None = None,
) -> IngestSummary:
    """Ingest a stream of inputs in this thread, one transaction per batch, holding at most one
    batch in memory (the demo store, tests; ``import`` runs the parallel pipeline instead:
    service/import_paths.py).

    ``on_progress`` is called with the running summary after each committed batch;
    ``on_outcome`` (optional) sees each input's outcome as it is decided.
    """
    lim = limits if limits is not None else default_limits()
    summary = IngestSummary()
    # Unreadable paths (ParsedInput) wait in the batch too, so outcomes keep the input order.
    batch: list[RawInput | ParsedInput] = []
    raw_count = 0

    def write(items: list[RawInput | ParsedInput]) -> None:
        raws = [item for item in items if isinstance(item, RawInput)]
        if raws:
            with store.transaction():
                stored = iter(ingest_batch(store, raws, lim))
        else:
            stored = iter(())
        for item in items:
            outcome = next(stored) if isinstance(item, RawInput) else rejected_outcome(item)
            summary.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        if on_progress is not None:
            on_progress(summary)

    for item in items:
        batch.append(item)
        if isinstance(item, RawInput):
            raw_count += 1
        if raw_count >= batch_size or len(batch) >= 4 * batch_size:
            write(batch)
            batch, raw_count = [], 0
    if batch:
        write(batch)
    return summary


def _start_worker(niceness: int, parent: int) -> None:
    """A parser process ends with the process that started it: after a kill -9 of ``sync``
    or ``import`` a forked worker would wait for ever on a queue whose writing end it holds."""
    die_with_parent(parent)
    if niceness > 0:
        os.nice(niceness)


class _PreparePool:
    """Worker processes running ``prepare_all`` on chunks of a batch.

    A worker that dies (killed, out of memory) must not lose the batch: its results are then
    computed in this process instead.
    """

    CHUNK = 50

    def __init__(self, workers: int, limits: Limits, method: str = "fork",
                 niceness: int = 0) -> None:
        """``method``: how workers start ("fork" for a single-threaded import; "forkserver"
        from a process that runs threads, where forking it could copy a held lock);
        ``niceness``: how much nicer than this process the workers run."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context(method if method in methods else None)
        self.limits = limits
        self.fallbacks = 0  # chunks prepared here because a worker was lost
        self._helpers = context.get_start_method() in ("forkserver", "spawn")
        if self._helpers:
            _helper_users(+1)
        try:
            # forked workers are this process's children; a fork server's are the server's
            parent = os.getpid() if context.get_start_method() == "fork" else 0
            self.executor = ProcessPoolExecutor(
                max_workers=workers, mp_context=context,
                initializer=_start_worker, initargs=(niceness, parent),
            )
        except BaseException:
            self.close()
            raise

    def submit(self, raws: list[RawInput], keys: DkimKeys | None = None) -> SubmittedBatch:
        chunks = [raws[i : i + self.CHUNK] for i in range(0, len(raws), self.CHUNK)]
        futures = []
        for chunk in chunks:
            try:
                futures.append(self.executor.submit(prepare_all, chunk, self.limits, keys))
            except Exception:  # the pool broke earlier: this chunk is prepared here
                futures.append(None)
        return SubmittedBatch(self, chunks, futures, keys)

    def close(self) -> None:
        """Stop the workers; the last pool to close also stops multiprocessing's helpers."""
        executor = getattr(self, "executor", None)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            del self.executor
        if self._helpers:
            self._helpers = False
            _helper_users(-1)


class SubmittedBatch:
    """A batch handed to a ``_PreparePool``: its prepared results, chunk by chunk as the
    workers finish them (``parts``), or all at once (calling it).

    A chunk whose worker died (killed, out of memory) is prepared in this process instead,
    so the batch is never lost."""

    def __init__(self, pool: _PreparePool, chunks: list[list[RawInput]],
                 futures: list[Future[list[Prepared]] | None], keys: DkimKeys | None) -> None:
        self._pool = pool
        self._chunks = chunks
        self._futures = futures
        self._keys = keys

    def parts(self) -> Iterator[tuple[list[RawInput], list[Prepared] | None]]:
        """Each chunk with its results, in input order, as soon as each is ready (None: the
        preparing raised here too, a parser bug; the caller prepares input by input)."""
        for chunk, future in zip(self._chunks, self._futures, strict=True):
            ready: list[Prepared] | None
            try:
                if future is None:
                    raise RuntimeError("no worker")
                ready = future.result()
            except Exception:  # BrokenProcessPool and the like: do it here
                self._pool.fallbacks += 1
                try:
                    ready = prepare_all(chunk, self._pool.limits, self._keys)
                except Exception:
                    ready = None
            yield chunk, ready

    def __call__(self) -> list[Prepared] | None:
        """Every result in input order; None when a chunk's preparing raised (see parts)."""
        out: list[Prepared] = []
        for _, ready in self.parts():
            if ready is None:
                return None
            out += ready
        return out


#: Pools open in this process whose start method runs helper processes, and a lock for it.
_HELPER_USERS = [0]
_HELPER_LOCK = threading.Lock()


def _helper_users(delta: int) -> None:
    """Count the pools using multiprocessing's helper processes; at zero, stop the helpers.

    Why: a ``forkserver`` pool (a sync from a process that runs threads: ``watch``, the TUI)
    makes multiprocessing start two process-wide helpers, the fork server and the resource
    tracker, that it never stops on its own; after a sync's workers are gone they stayed
    behind for the life of ``watch``, about 25 MiB of the 80 MiB its idle target allows.
    The next big batch starts them again (a fraction of a second, once per sync that needs
    workers). Their ``_stop`` methods are what CPython's own tests use; were they to vanish
    in a later Python, the helpers simply stay (as before).
    """
    with _HELPER_LOCK:
        _HELPER_USERS[0] += delta
        if _HELPER_USERS[0] > 0:
            return
        _HELPER_USERS[0] = 0
        from multiprocessing import forkserver, resource_tracker

        gc.collect()  # closed pools' semaphores unregister from the tracker before it stops
        for helper in (getattr(forkserver, "_forkserver", None),
                       getattr(resource_tracker, "_resource_tracker", None)):
            stop = getattr(helper, "_stop", None)
            if stop is not None:
                with contextlib.suppress(Exception):
                    stop()


def chunked(items: Iterable[RawInput], size: int) -> Iterator[list[RawInput]]:
    """Group an input stream into lists of at most ``size`` (for callers batching by hand)."""
    chunk: list[RawInput] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
