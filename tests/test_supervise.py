"""Workers that never die quietly: the supervisor, and IMAP watchers facing a locked store,
a restarted Dovecot and an archive folder the server refuses."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import google_report, microsoft_report, ordinary_mail
from test_imap_sync import account_for, count, wait_until  # noqa: F401

from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.supervise import Handle, Supervisor, WorkerState
from tlsrpt_tui.service.sync import SyncEvent, folder_worker_name, sync_account, watch
from tlsrpt_tui.store import imap_state
from tlsrpt_tui.store.database import Store


async def test_any_exception_is_survived_logged_and_backed_off_with_a_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = [
        sqlite3.OperationalError("database is locked"),
        KeyError("surprise"),
        RuntimeError("bug in a parser"),
        ValueError("four"),
        OSError("five"),
    ]
    runs: list[float] = []
    seen: list[WorkerState] = []
    done = asyncio.Event()

    async def body(handle: Handle) -> None:
        runs.append(time.monotonic())
        if errors:
            raise errors.pop(0)
        handle.ok()
        done.set()
        await asyncio.sleep(3600)

    sup = Supervisor(on_change=seen.append, backoff_first=0.02, backoff_max=0.08)
    task = sup.spawn("worker", body)
    await asyncio.wait_for(done.wait(), 10)
    assert not task.done()
    assert len(runs) == 6
    retrying = [s for s in seen if s.state == "retrying"]
    assert [s.failures for s in retrying] == [1, 2, 3, 4, 5]
    assert "database is locked" in retrying[0].reason
    assert retrying[1].reason == "KeyError: 'surprise'"
    # "Retrying since" is when the trouble began, not the last attempt.
    assert len({s.since for s in retrying}) == 1
    # Backoff doubles and is capped (0.02, 0.04, 0.08, 0.08 with 10% jitter).
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps[0] < gaps[2]
    assert all(g < 0.08 * 1.1 + 0.5 for g in gaps)
    assert sup.states["worker"].state == "running" and not sup.failing()
    assert "database is locked" in caplog.text and "retrying in" in caplog.text
    await sup.stop()
    assert task.cancelled()


async def test_progress_resets_the_backoff_and_min_wait_applies() -> None:
    waits: list[float] = []
    seen: list[WorkerState] = []

    async def body(handle: Handle) -> None:
        handle.ok()
        raise ConnectionError("dropped after progress")

    sup = Supervisor(on_change=seen.append, backoff_first=0.01, backoff_max=10)
    sup.spawn("w", body, min_wait=lambda exc: 0.05)
    await asyncio.sleep(0.5)
    await sup.stop()
    retrying = [s for s in seen if s.state == "retrying"]
    # Each failure came after progress, so each is the first of its series.
    assert retrying and all(s.failures == 1 for s in retrying)
    for s in retrying:
        assert s.retry_at is not None
        waits.append((s.retry_at - s.since).total_seconds())
    assert all(0.04 < w < 0.2 for w in waits)


# --------------------------------------------------------------------------------------------
# Real Dovecot

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE IF NOT EXISTS _lock_probe (x)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@pytest.mark.peers
async def test_a_locked_store_leaves_every_folder_watching_and_catching_up(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
) -> None:
    dovecot.create("Other")
    dovecot.append([google_report(1)])
    db = tmp_path / "s.sqlite3"
    events: list[SyncEvent] = []
    states: list[WorkerState] = []
    sup = Supervisor(on_change=states.append, backoff_first=0.2, backoff_max=1.0)
    with Store(db) as store:
        store.set_busy_timeout(300)  # fail fast while the lock is held
        acct = account_for(folders=("INBOX", "Other"))
        task = asyncio.create_task(
            watch(store, [acct], on_progress=events.append, supervisor=sup)
        )
        try:
            await wait_until(lambda: count(store, "reports") == 1, task)
            await wait_until(
                lambda: sum(e.kind == "idle" for e in events) >= 2, task
            )
            # Another process (say a concurrent import) holds a write transaction for 4 s.
            locker = subprocess.Popen(
                [sys.executable, "-c", LOCKER, str(db), "4"], stdout=subprocess.PIPE
            )
            assert locker.stdout is not None
            assert (await asyncio.to_thread(locker.stdout.readline)).strip() == b"locked"
            await asyncio.to_thread(dovecot.append, [microsoft_report(2)])
            await asyncio.to_thread(dovecot.append, [google_report(3)], "Other")
            await wait_until(
                lambda: any("database is locked" in s.reason for s in states), task
            )
            assert not task.done()
            await asyncio.to_thread(locker.wait, 30)
            # The lock is gone: both folders catch up, nothing lost.
            await wait_until(lambda: count(store, "reports") == 3, task, limit=30)
            await wait_until(
                lambda: all(s.state == "running" for s in sup.states.values()), task
            )
            assert set(sup.states) == {
                folder_worker_name(acct, "INBOX"), folder_worker_name(acct, "Other")
            }
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert any(e.kind == "error" and "database is locked" in e.message for e in events)


@pytest.mark.peers
async def test_dovecot_restarted_mid_idle_the_watcher_reconnects_and_catches_up(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
) -> None:
    dovecot.append([google_report(1)])
    events: list[SyncEvent] = []
    sup = Supervisor(backoff_first=0.2, backoff_max=1.0)
    with Store(tmp_path / "s.sqlite3") as store:
        task = asyncio.create_task(
            watch(store, [account_for()], on_progress=events.append, supervisor=sup)
        )
        try:
            await wait_until(lambda: any(e.kind == "idle" for e in events), task)
            idles = sum(e.kind == "idle" for e in events)
            await asyncio.to_thread(dovecot.restart)
            await asyncio.to_thread(dovecot.append, [microsoft_report(2), ordinary_mail(3)])
            await wait_until(lambda: count(store, "reports") == 2, task, limit=30)
            await wait_until(lambda: sum(e.kind == "idle" for e in events) > idles, task)
            assert any(e.kind == "reconnect" for e in events)
            assert all(s.state == "running" for s in sup.states.values())
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


@pytest.mark.peers
async def test_a_refused_archive_move_never_stops_fetching_and_is_retried_later(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
) -> None:
    dovecot.append([google_report(1), microsoft_report(2)])
    # A name too long for the Maildir on disk: every MOVE there fails with NO.
    acct = account_for(archive_folder="x" * 300, batch_size=1)
    events: list[SyncEvent] = []
    with Store(tmp_path / "s.sqlite3") as store:
        summary = await sync_account(store, acct, on_progress=events.append)
        # Both messages fetched and stored despite the failing move after the first batch.
        assert count(store, "reports") == 2
        folder = summary.folders[0]
        assert folder.moved == 0 and folder.move_failures == 1
        warnings = [e.message for e in events if e.kind == "warning"]
        assert len(warnings) == 1 and "stay owed" in warnings[0]
        owed = imap_state.pending_moves(store, "test", "INBOX", dovecot.uidvalidity())
        assert owed == dovecot.uids()
        # A later sync with a usable archive folder moves what was owed.
        fixed = account_for(archive_folder="Archive", batch_size=1)
        await sync_account(store, fixed)
        assert imap_state.pending_moves(store, "test", "INBOX", dovecot.uidvalidity()) == []
        assert len(dovecot.uids("Archive")) == 2 and dovecot.uids() == []
