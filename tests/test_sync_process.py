"""The TUI's sync process (service/sync_process.py) against a real Dovecot, on both backends.

What it must keep from the sync it replaced (which ran inside the TUI): the same reports
stored, events and summary; secrets never on its command line or in its environment; a
child that dies is shown and replaced; and it never outlives the TUI, however that ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import google_report, microsoft_report
from test_imap_sync import PASSWORD_ENV, account_for, count  # noqa: F401

from tlsrpt_tui.service import sync_process as wire
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.supervise import Supervisor, WorkerState
from tlsrpt_tui.service.sync_events import FolderSummary, SyncEvent, SyncSummary
from tlsrpt_tui.service.sync_process import PROCESS_WORKER, SyncProcess
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.store.location import StoreLocation

pytestmark = pytest.mark.peers

REPO = Path(__file__).resolve().parent.parent


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its new parent to reap it counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def until(cond: Callable[[], bool], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_what_crosses_the_pipe_comes_back_the_same() -> None:
    def through(data: dict) -> dict:  # type: ignore[type-arg]
        return json.loads(json.dumps(data))

    account = AccountSettings(name="a", host="h", username="u", folders=("INBOX", "Reports"),
                              password="inline secret", batch_size=7)
    assert wire.account_from_wire(through(wire.account_to_wire(account))) == account
    folder = FolderSummary("a", "INBOX", 5, seen=9, new=3, rejected=2, pending=4,
                           problems=["uid 1: bad", "uid 2: bad"])
    event = wire.event_from_wire(through(wire.event_to_wire(
        SyncEvent("batch", folder, "a/INBOX: 9 seen", new_reports=3), job=None)))
    assert event.kind == "batch" and event.new_reports == 3 and event.folder is not None
    assert event.folder.line() == folder.line() and event.folder.pending == 4
    assert event.folder.problems == []  # not repeated with every batch ...
    summary = wire.summary_from_wire(through(wire.summary_to_wire(
        SyncSummary([folder], ["account b: login refused"], watched_elsewhere=["x"]))))
    assert summary.folders == [folder]  # ... the summary carries them
    assert summary.errors == ["account b: login refused"]
    assert summary.watched_elsewhere == ["x"]
    now = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    state = WorkerState("imap a/INBOX", "retrying", now, "login refused", 3, retry_at=now)
    assert wire.state_from_wire(through(wire.state_to_wire(state))) == state
    pg = StoreLocation("postgresql", url="postgresql://u@h/db", password="pw")
    back = wire.location_from_wire(through(wire.location_to_wire(pg)))
    assert back == pg and back.password == "pw"


async def test_a_sync_in_the_child_stores_what_the_tui_did_and_shows_no_secret(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    db_location,  # type: ignore[no-untyped-def]
) -> None:
    dovecot.append([google_report(1), microsoft_report(2, failures=True), google_report(3)])
    with Store(db_location) as store:
        location = store.location
        process = SyncProcess(location)
        events: list[SyncEvent] = []
        listings: list[bytes] = []

        def on_progress(event: SyncEvent) -> None:
            events.append(event)
            pid = process.pid
            assert pid is not None
            listings.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            listings.append(Path(f"/proc/{pid}/environ").read_bytes())

        summary = await process.sync_all([account_for()], on_progress)
        assert summary.ok and summary.total("new") == 3, summary
        assert sum(e.new_reports for e in events if e.kind == "batch") == 3
        assert [e.kind for e in events][-1] == "done"
        assert count(store, "reports") == 3
        # the IMAP password, and PostgreSQL's, travelled over the pipe only
        secrets = [dovecot.password.encode()]
        if location.password:
            secrets.append(location.password.encode())
        assert listings and not [s for s in secrets for text in listings if s in text]
        assert PASSWORD_ENV.encode() + b"=" not in b"".join(listings)
        # nothing uses it any more: it has ended
        assert process.pid is None


async def test_a_child_that_dies_is_shown_retrying_and_replaced(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
) -> None:
    dovecot.append([google_report(1)])
    with Store(tmp_path / "s.sqlite3") as store:
        process = SyncProcess(store.location)
        states: list[WorkerState] = []
        sup = Supervisor(on_change=states.append, backoff_first=0.2)
        folder = "imap test/INBOX"
        task = asyncio.create_task(process.watch([account_for()], lambda e: None, sup))
        try:
            await until(lambda: count(store, "reports") == 1
                        and sup.states.get(folder) is not None
                        and sup.states[folder].state == "running")
            first = process.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await until(lambda: sup.states[PROCESS_WORKER].failing)
            line = sup.states[PROCESS_WORKER].line()
            assert line.startswith(f"{PROCESS_WORKER}: retrying since "), line
            assert "the sync process ended (killed by SIGKILL)" in line
            assert any(s.name == folder and s.state == "stopped" for s in states)
            # a new child takes the folder over and stores what arrives
            await until(lambda: process.pid not in (None, first)
                        and sup.states[folder].state == "running")
            dovecot.append([microsoft_report(2)])
            await until(lambda: count(store, "reports") == 2)
            second = process.pid
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert process.pid is None and second is not None
        await until(lambda: gone(second), 10)


PARENT = textwrap.dedent("""
    import asyncio, sys
    from tlsrpt_tui.service.config import AccountSettings
    from tlsrpt_tui.service.supervise import Supervisor
    from tlsrpt_tui.service.sync_process import SyncProcess
    from tlsrpt_tui.store.database import Store

    async def main():
        location = Store(sys.argv[1]).location
        account = AccountSettings(name="t", host=sys.argv[2], port=int(sys.argv[3]),
                                  username=sys.argv[4], password_env=sys.argv[5],
                                  ca_file=sys.argv[6])
        process = SyncProcess(location)
        idle = asyncio.Event()

        def on_event(event):
            if event.kind == "idle":  # caught up: IDLE, nothing more to say for a while
                idle.set()

        task = asyncio.create_task(process.watch([account], on_event, Supervisor()))
        await idle.wait()
        print(process.pid, flush=True)
        await task

    asyncio.run(main())
""")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda s: s.name)
def test_the_child_never_outlives_the_tui(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
    how: signal.Signals,
) -> None:
    env = dict(os.environ, **{PASSWORD_ENV: dovecot.password})
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "s.sqlite3"), dovecot.host,
         str(dovecot.imaps_port), dovecot.user, PASSWORD_ENV, str(dovecot.ca_file)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent printed {line!r}"
        child = int(line)
        assert not gone(child)
        parent.send_signal(how)
        parent.wait(30)
        deadline = time.monotonic() + 15
        while not gone(child):
            assert time.monotonic() < deadline, f"the sync process outlived its parent ({how})"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
