"""Leases: one worker per folder, check and alert channel; taken over when the holder dies.

Store-level rules with explicit clocks, then the ``Leaser`` as the service uses it (renewed in
the background, the work cancelled when another worker took the lease). Processes sharing a
store for real: tests/test_workers.py.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tlsrpt_tui.service.leasing import LeaseLost, Leaser
from tlsrpt_tui.store import leases
from tlsrpt_tui.store.database import Store

HERE = socket.gethostname()


@pytest.fixture
def store(db_location):  # type: ignore[no-untyped-def]
    """A fresh store of each backend (SQLite, then PostgreSQL)."""
    with Store(db_location) as s:
        yield s


def test_one_holder_at_a_time_until_it_expires_then_taken_over(store: Store) -> None:
    a, b = "elsewhere.example:101:aa", "other.example:202:bb"
    ok, lease = leases.try_acquire(store, "imap:r/INBOX", "imap", a, 60, now=1000.0)
    assert ok and lease.holder == a and lease.expires_at == 1060.0
    ok, other = leases.try_acquire(store, "imap:r/INBOX", "imap", b, 60, now=1059.0)
    assert not ok and other.holder == a and other.who == "elsewhere.example:101"
    # a renews: still its own, the acquisition time kept
    ok, again = leases.try_acquire(store, "imap:r/INBOX", "imap", a, 60, now=1050.0)
    assert ok and again.acquired_at == 1000.0 and again.expires_at == 1110.0
    assert not leases.try_acquire(store, "imap:r/INBOX", "imap", b, 60, now=1109.0)[0]
    # a stops renewing (it died on another host): b takes over after the expiry
    ok, taken = leases.try_acquire(store, "imap:r/INBOX", "imap", b, 60, now=1111.0)
    assert ok and taken.holder == b and taken.acquired_at == 1111.0
    with pytest.raises(LeaseLost):
        leases.renew(store, "imap:r/INBOX", a, 60, now=1112.0)
    with store.transaction(), pytest.raises(LeaseLost):
        leases.check_held(store, "imap:r/INBOX", a)
    with store.transaction():
        leases.check_held(store, "imap:r/INBOX", b)
    # releasing someone else's lease does nothing; the holder's release frees it
    leases.release(store, "imap:r/INBOX", a)
    assert leases.get(store, "imap:r/INBOX").holder == b  # type: ignore[union-attr]
    leases.release(store, "imap:r/INBOX", b)
    assert leases.get(store, "imap:r/INBOX") is None
    assert leases.try_acquire(store, "imap:r/INBOX", "imap", a, 60, now=1113.0)[0]


def test_a_dead_holder_on_this_host_is_taken_over_at_once(store: Store) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = f"{HERE}:{int(proc.stdout)}:dd"
    alive = f"{HERE}:{subprocess.Popen(['sleep', '30']).pid}:ee"
    ok, _ = leases.try_acquire(store, "check:a.test", "check", dead, 60)
    assert ok
    ok, lease = leases.try_acquire(store, "check:a.test", "check", "me:1:ff", 60)
    assert ok and lease.holder == "me:1:ff"
    # a live process on this host keeps its lease
    leases.try_acquire(store, "check:b.test", "check", alive, 60)
    ok, lease = leases.try_acquire(store, "check:b.test", "check", "me:1:ff", 60)
    assert not ok and lease.holder == alive
    subprocess.run(["kill", alive.split(":")[1]], check=True)


def test_held_lists_leases_by_kind_with_their_state(store: Store) -> None:
    leases.try_acquire(store, "imap:r/INBOX", "imap", "h.example:1:aa", 60, state=leases.IDLE,
                       now=500.0)
    leases.try_acquire(store, "check:a.test", "check", "h.example:2:bb", 60, now=500.0)
    [imap] = leases.held(store, "imap")
    assert imap.state == "idle"
    assert imap.line(now=503.0) == "held by h.example:1 (idle, renewed 3 s ago)"
    assert [lease.name for lease in leases.held(store)] == ["check:a.test", "imap:r/INBOX"]


async def test_work_whose_lease_is_taken_over_is_cancelled_and_commits_nothing(
    store: Store,
) -> None:
    leaser = Leaser(store, ttl=0.6)
    try:
        ok, lease = await leaser.acquire("imap:r/INBOX", "imap")
        assert ok
        committed = []
        with pytest.raises(LeaseLost):
            async with leaser.hold(lease) as held:
                # Another worker takes the lease over (as if this one had stalled).
                far = lease.expires_at + 1
                assert leases.try_acquire(store, "imap:r/INBOX", "imap", "x.example:9:99", 60,
                                          now=far)[0]
                with store.transaction(), pytest.raises(LeaseLost):
                    held.fence(store)  # the fence refuses a commit at once
                    committed.append(1)
                await asyncio.sleep(5)  # the next renewal notices and cancels this
        assert committed == []
        assert "imap:r/INBOX" not in leaser.mine
        assert leases.get(store, "imap:r/INBOX").holder == "x.example:9:99"  # type: ignore[union-attr]
    finally:
        await leaser.aclose()


async def test_a_held_lease_is_renewed_while_working_and_released_after(store: Store) -> None:
    leaser = Leaser(store, ttl=0.6)
    other = Leaser(store, ttl=0.6)
    try:
        ok, lease = await leaser.acquire("deliver:mail#1", "deliver")
        assert ok
        async with leaser.hold(lease):
            for _ in range(4):  # well past the 0.6 s lifetime: renewed, never free
                await asyncio.sleep(0.4)
                ok, theirs = await other.acquire("deliver:mail#1", "deliver")
                assert not ok and theirs.holder == leaser.holder
        assert (await other.acquire("deliver:mail#1", "deliver"))[0]
    finally:
        await leaser.aclose()
        await other.aclose()
    assert leases.held(store) == []  # aclose released what `other` held


def test_status_lists_what_the_workers_sharing_the_store_hold(tmp_path: Path) -> None:
    from cli_helpers import run_cli

    from tlsrpt_tui.store import checks

    db = tmp_path / "s.sqlite3"
    with Store(db) as s:
        checks.save(s, {"domain": "a.test", "checked_at": "2026-01-01T00:00:00+00:00",
                        "status": "ok", "records": {}, "findings": []})
        leases.try_acquire(s, "imap:reports/INBOX", "imap", "h.example:41:aa", 3600,
                           state=leases.IDLE)
        leases.try_acquire(s, "check:a.test", "check", "g.example:42:bb", 3600)
    out = run_cli("status", "a.test", db=db).stdout
    assert "workers sharing this store:" in out
    assert "imap:reports/INBOX: held by h.example:41 (idle, renewed " in out
    assert "check:a.test: held by g.example:42 (working" in out


def test_four_workers_opening_a_new_sqlite_store_at_once_all_get_it(tmp_path: Path) -> None:
    """The first applies the migrations; the others wait for its write lock and find them
    applied (they used to apply them again and fail on "table already exists")."""
    db = tmp_path / "new.sqlite3"
    code = ("import sys; from tlsrpt_tui.store.database import Store; "
            "s = Store(sys.argv[1]); print(s.schema_version); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
    with Store(db) as store:
        assert {int(out) for out, _ in results} == {store.schema_version}


def test_opening_a_new_sqlite_store_waits_while_another_connection_holds_its_write_lock(
        tmp_path: Path) -> None:
    """The race behind the test above, made certain: another connection (a process of its own
    in real use) holds the write lock of a store not yet in WAL. Switching to WAL upgrades a
    read lock, where SQLite does not call the busy handler, so opening it failed at once with
    "database is locked"."""
    db = tmp_path / "new.sqlite3"
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (a)")
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, other.execute, ("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        with Store(db) as store:
            assert time.monotonic() - started >= 0.4
            assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert store.schema_version > 0
    finally:
        release.join()
        other.close()


def test_postgresql_fence_stops_a_takeover_but_never_the_holders_renewal(pg_location) -> None:  # type: ignore[no-untyped-def]
    """A batch's commit holds the fence (FOR KEY SHARE) while the holder's heartbeat renews
    on another connection: the renewal must not wait for it (a lease starved of renewals
    under back-to-back batches expired), and no other worker may take the lease meanwhile."""
    with Store(pg_location) as writer, Store(pg_location) as beat, Store(pg_location) as other:
        beat.conn.execute("SET lock_timeout = '5s'")  # a wait would fail here, not hang
        assert leases.try_acquire(beat, "imap:r/INBOX", "imap", "h.example:1:aa", 60)[0]
        with writer.transaction():
            leases.check_held(writer, "imap:r/INBOX", "h.example:1:aa")
            leases.renew(beat, "imap:r/INBOX", "h.example:1:aa", 60)
            assert leases.try_acquire(beat, "imap:r/INBOX", "imap", "h.example:1:aa", 60)[0]
            far = leases.get(beat, "imap:r/INBOX").expires_at + 100  # type: ignore[union-attr]
            ok, lease = leases.try_acquire(other, "imap:r/INBOX", "imap", "x.example:2:bb", 60,
                                           now=far)
            assert not ok and lease.holder == "h.example:1:aa"
