"""The sync's ingest pipeline against a real Dovecot: parsing in worker processes, commits on
one writer thread, a bounded number of batches in flight, the same store as a serial sync.

The crash-safety side (kill -9 at random points, faults mid-FETCH) is in test_faults_imap.py;
this file checks the three stages themselves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import mixed
from test_imap_sync import account_for, dump  # noqa: F401

from tlsrpt_tui.service import sync
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.pipeline import DEPTH, IngestPipeline
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

N = 150  # three batches of 50


class Watched(IngestPipeline):
    """Counts the writes queued and not yet finished, and which threads prepared/wrote."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.outstanding = 0
        self.most = 0
        self.handles = 0

    def prepare(self, raws, keys=None):  # type: ignore[no-untyped-def]
        self.handles += 1
        return super().prepare(raws, keys)

    def write(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        future = super().write(fn, *args)

        def done(_f: object) -> None:
            self.outstanding -= 1

        future.add_done_callback(done)
        return future


async def _sync(store: Store, account: AccountSettings, pipeline: IngestPipeline) -> None:
    client = await sync.open_account(account)
    try:
        await sync.sync_folder(store, client, account, "INBOX", pipeline=pipeline)
    finally:
        client.abort()


async def test_worker_processes_and_one_writer_thread_store_what_a_serial_sync_stores(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_db,
) -> None:
    messages, expected = mixed(N)
    dovecot.append(messages)
    commit_threads: set[int] = set()
    real_commit = sync._commit_batch

    def commit(*args: Any) -> Any:
        commit_threads.add(threading.get_ident())
        return real_commit(*args)

    monkeypatch.setattr(sync, "_commit_batch", commit)

    with Store(new_db("serial")) as serial:
        async with IngestPipeline(serial, workers=0) as inline:
            await _sync(serial, account_for(), inline)
        want = dump(serial)

    with Store(new_db("piped")) as store:
        pipeline = Watched(store, workers=1)
        async with pipeline:
            await _sync(store, account_for(), pipeline)
            pool = pipeline._pool
            assert pool is not None, "batches of 50 go to the worker processes"
            assert pool.fallbacks == 0  # every chunk came back from a worker
        assert dump(store) == want
        assert want["state"][0][3] == N and sum(expected.values()) == N
    # every commit ran on a writer thread, never on the loop's thread
    assert commit_threads and threading.get_ident() not in commit_threads
    # backpressure: the folder's begin, then at most DEPTH batches waiting for their commit
    assert pipeline.handles == 3
    assert 1 < pipeline.most <= DEPTH + 1


async def test_a_failed_commit_stops_the_batches_queued_behind_it(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_db,
) -> None:
    """A batch committed after an earlier one failed would move the position past mail that
    was never stored: the writer refuses every write queued behind a failure."""
    messages, _ = mixed(N)
    dovecot.append(messages)
    real_commit = sync._commit_batch
    calls = 0

    def commit(store: Store, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full (simulated)")
        return real_commit(store, *args)

    monkeypatch.setattr(sync, "_commit_batch", commit)
    with Store(new_db("s")) as store:
        with pytest.raises(OSError, match="disk full"):
            async with IngestPipeline(store, workers=0) as pipeline:
                await _sync(store, account_for(), pipeline)
        last = store.conn.execute("SELECT last_uid FROM imap_folders").fetchone()[0]
        assert last == 50  # batch 1 only; batch 3 was not written over the hole
        monkeypatch.setattr(sync, "_commit_batch", real_commit)
        async with IngestPipeline(store, workers=0) as pipeline:
            await _sync(store, account_for(), pipeline)
        assert store.conn.execute("SELECT last_uid FROM imap_folders").fetchone()[0] == N
