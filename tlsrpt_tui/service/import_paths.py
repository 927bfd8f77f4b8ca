"""Importing report files, mboxes and Maildirs from paths: ``tlsrpt-tui import``.

Enumeration (service/sources.py) and ingestion are both streams, so an import of a 2 GB mbox
holds a few batches of messages in memory at a time. The import runs the sync's ingest
pipeline (service/pipeline.py): files are read here, each batch is parsed and DKIM-verified
in the worker processes (which ask DNS for the keys they need: ``KeysLookedUpHere``) and
committed by the one writer thread, in the order read, one transaction per batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tlsrpt_tui.core.model import ParsedInput, RawInput
from tlsrpt_tui.core.parse import DEFAULT_LIMITS, Limits
from tlsrpt_tui.service.dkim import DkimChecker, DkimKeys
from tlsrpt_tui.service.ingest import (
    IngestOutcome,
    IngestSummary,
    Prepared,
    ProgressCallback,
    ingest_batch,
    rejected_outcome,
)
from tlsrpt_tui.service.pipeline import MIN_BATCH_FOR_WORKERS, IngestPipeline, PreparedParts
from tlsrpt_tui.service.sources import iter_inputs
from tlsrpt_tui.store.database import Store

#: Batches read ahead of the last finished commit: one being read, one parsed, one written.
IMPORT_DEPTH = 3

#: Inputs per committed transaction. Why 1,000 and not fewer: each COMMIT writes every index
#: page its inputs touched to the WAL, and report inserts land all over five indices, so a
#: batch of 200 wrote ~3.2 pages (13 KB) a mail, 500 ~1.8 and 1,000 ~1.2: about a fifth of
#: the writer's CPU between 500 and 1,000 (bench/README.md, Import).
BATCH_SIZE = 1000

#: How much nicer than the import's own process its parser processes run. Why: on two CPUs
#: the three processes are all runnable most of the run, and at one priority the parsers,
#: getting two thirds of the CPU time, ran up to two batches ahead of the process that
#: writes (it also walks and reads): when they were done, it was left with ~0.8 s of
#: writing alone on one CPU (10,000 of bench_import.py's mails, sampled every 5 ms). Niced,
#: the parsers take what the writing process leaves and it keeps up: ~0.3-0.5 s left.
IMPORT_WORKER_NICENESS = 5

#: Inputs the writer stores at a time inside a batch's transaction, as the parsers return
#: them. Why not each chunk of 50 as it comes: every ``ingest_batch`` call has a fixed cost
#: (its savepoint, id look-ups, a statement per table, the day totals' upserts), and at 50 a
#: mail cost the writer ~25% more CPU; at 200 the same as at 1,000 (bench_writer.py's mails).
WRITE_PART = 200

#: A batch also closes at this many bytes read, so big mail (real reports carry ~10 KB of
#: headers, some a multi-MB zip) keeps the IMPORT_DEPTH batches in memory bounded.
BATCH_BYTES = 16 * 1024 * 1024

Item = RawInput | ParsedInput


def import_paths(
    store: Store,
    paths: Iterable[Path | str],
    limits: Limits = DEFAULT_LIMITS,
    on_progress: ProgressCallback | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    on_outcome: Callable[[IngestOutcome], None] | None = None,
    workers: int = 0,
    dkim: DkimChecker | None = None,
) -> IngestSummary:
    """Ingest every input found under ``paths``; one committed transaction per batch.

    ``workers`` parser processes prepare each batch while the writer stores the one before
    (0: the writer parses). With ``dkim``, mail is DKIM-verified and the verdict stored with
    it. ``on_outcome`` sees each input's outcome in input order, after its batch committed.
    Runs its own event loop (the writer thread is awaited on it): not for use inside one."""
    return ingest_items(store, iter_inputs(paths, limits), limits, on_progress,
                        batch_size=batch_size, on_outcome=on_outcome, workers=workers, dkim=dkim)


def ingest_items(
    store: Store,
    items: Iterable[Item],
    limits: Limits = DEFAULT_LIMITS,
    on_progress: ProgressCallback | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    on_outcome: Callable[[IngestOutcome], None] | None = None,
    workers: int = 0,
    dkim: DkimChecker | None = None,
) -> IngestSummary:
    """``import_paths`` over inputs already enumerated (see there)."""
    return asyncio.run(_import(store, items, limits, on_progress, batch_size, on_outcome,
                               workers, dkim))


async def _import(
    store: Store,
    items: Iterable[Item],
    limits: Limits,
    on_progress: ProgressCallback | None,
    batch_size: int,
    on_outcome: Callable[[IngestOutcome], None] | None,
    workers: int,
    dkim: DkimChecker | None,
) -> IngestSummary:
    summary = IngestSummary()
    in_flight: deque[asyncio.Future[list[IngestOutcome]]] = deque()

    async def finish_oldest() -> None:
        for outcome in await in_flight.popleft():
            summary.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        if on_progress is not None:
            on_progress(summary)

    # The keys are looked up where each mail is verified, not scanned for here: see there.
    lookup = dkim.looked_up_where_verified() if dkim is not None else None
    async with IngestPipeline(store, workers=workers, limits=limits,
                              worker_niceness=IMPORT_WORKER_NICENESS) as pipeline:
        try:
            for batch in _batches(items, batch_size):
                raws = [item for item in batch if isinstance(item, RawInput)]
                if len(raws) >= MIN_BATCH_FOR_WORKERS:
                    pipeline.start_workers()  # before any thread runs: see there
                keys = lookup if raws else None
                parts = pipeline.prepare_parts(raws, keys)
                in_flight.append(pipeline.write(_store_batch, batch, parts, limits, keys))
                if len(in_flight) >= IMPORT_DEPTH:
                    await finish_oldest()
            while in_flight:
                await finish_oldest()
        finally:
            for future in in_flight:  # a failed batch: the later ones refuse to write
                future.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
    return summary


def _store_batch(store: Store, items: list[Item], parts: PreparedParts, limits: Limits,
                 keys: DkimKeys | None) -> list[IngestOutcome]:
    """One batch in one transaction (on the writer thread); outcomes in input order.

    Each chunk is stored as soon as the parsers have it (waiting for them here, on the writer
    thread), in input order. Unreadable paths (ParsedInput) wait in the batch too, so
    outcomes keep the input order."""
    stored: list[IngestOutcome] = []
    if any(isinstance(item, RawInput) for item in items):
        with store.transaction():
            for raws, prepared in _grouped(parts(), WRITE_PART):
                stored += ingest_batch(store, raws, limits, prepared, keys)
    done = iter(stored)
    return [next(done) if isinstance(item, RawInput) else rejected_outcome(item)
            for item in items]


def _grouped(parts: Iterator[tuple[list[RawInput], list[Prepared] | None]], size: int
             ) -> Iterator[tuple[list[RawInput], list[Prepared] | None]]:
    """The parsers' chunks joined into groups of at least ``size`` inputs (the last may be
    smaller); a chunk they could not prepare (None) stays a group of its own."""
    raws: list[RawInput] = []
    ready: list[Prepared] = []
    for chunk, prepared in parts:
        if prepared is None:
            if raws:
                yield raws, ready
                raws, ready = [], []
            yield chunk, None
            continue
        raws += chunk
        ready += prepared
        if len(raws) >= size:
            yield raws, ready
            raws, ready = [], []
    if raws:
        yield raws, ready


def _batches(items: Iterable[Item], size: int,
             max_bytes: int = BATCH_BYTES) -> Iterator[list[Item]]:
    """Batches of ``size`` inputs read, or fewer holding ``max_bytes`` (unreadable paths ride
    along, at most 4x as many)."""
    batch: list[Item] = []
    raw_count = raw_bytes = 0
    for item in items:
        batch.append(item)
        if isinstance(item, RawInput):
            raw_count += 1
            raw_bytes += len(item.data)
        if raw_count >= size or raw_bytes >= max_bytes or len(batch) >= 4 * size:
            yield batch
            batch, raw_count, raw_bytes = [], 0, 0
    if batch:
        yield batch
