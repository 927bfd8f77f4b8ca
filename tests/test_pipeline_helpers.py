"""The parser processes of a sync leave nothing running once the sync is over.

A pipeline in a process that runs threads (``watch``, the TUI) starts its workers from
multiprocessing's fork server, which also starts a resource tracker; both are process-wide and
multiprocessing never stops them. ``watch`` idles for days after its first big sync, so they
must go with the last pool (issue 10: idle RSS of the whole process tree under 80 MiB).
"""

from __future__ import annotations

import asyncio
import threading

import psutil
from peers.tlsrpt_mail import google_report

from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.service.pipeline import MIN_BATCH_FOR_WORKERS, IngestPipeline
from tlsrpt_tui.store.database import Store


def _batch(start: int) -> list[RawInput]:
    return [RawInput(f"mail {i}", google_report(i, failures=bool(i % 2)),
                     Origin("imap", account="a", folder="INBOX", uidvalidity=1, uid=i + 1))
            for i in range(start, start + MIN_BATCH_FOR_WORKERS)]


def _children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


async def _prepared(pipeline: IngestPipeline, raws: list[RawInput]) -> int:
    handle = pipeline.prepare(raws)
    done = await asyncio.to_thread(handle)
    assert done is not None, "a big batch is parsed by the worker processes"
    return sum(1 for p in done if p.rows)  # the reports, as rows ready to insert


async def test_workers_fork_server_and_tracker_stop_with_the_last_pool() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # a thread: as in watch, forkserver is used
    other.start()
    before = {p.pid for p in _children()}
    try:
        with Store(":memory:") as store:
            first, second = IngestPipeline(store, workers=1), IngestPipeline(store, workers=1)
            assert await _prepared(first, _batch(0)) == MIN_BATCH_FOR_WORKERS
            assert first._pool is not None and first._pool._helpers  # not a plain fork
            assert await _prepared(second, _batch(100)) == MIN_BATCH_FOR_WORKERS
            running = {p.pid for p in _children()} - before
            assert len(running) >= 3  # workers, the fork server, the resource tracker

            await first.aclose()  # the other pool still needs the helpers
            assert await _prepared(second, _batch(200)) == MIN_BATCH_FOR_WORKERS
            await second.aclose()
            left = [p for p in _children() if p.pid not in before and p.is_running()
                    and p.status() != psutil.STATUS_ZOMBIE]
            assert left == [], [p.cmdline() for p in left]

            # the next big sync starts them again
            again = IngestPipeline(store, workers=1)
            assert await _prepared(again, _batch(300)) == MIN_BATCH_FOR_WORKERS
            await again.aclose()
            assert [p for p in _children() if p.pid not in before and p.is_running()
                    and p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        stop.set()
        other.join()
