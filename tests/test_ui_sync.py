"""The TUI's IMAP sync against a real Dovecot: each manual sync announces what IT stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import google_report, microsoft_report
from test_faults_tui import _account, messages, wait_for

from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.widgets.inbox import InboxTable

pytestmark = pytest.mark.peers


async def test_a_smaller_second_manual_sync_still_refreshes_and_says_how_many(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from test_faults_tui import PASSWORD_ENV

    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    dovecot.append([google_report(1), microsoft_report(2), google_report(3)])
    with Store(tmp_path / "s.sqlite3") as store:
        app = TlsrptApp(StoreBackend(store), Config(accounts=(_account(dovecot),)), live=False)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.pause()
            await pilot.press("s")
            await wait_for(pilot, lambda: "3 new report(s)" in messages(app))
            await wait_for(pilot, lambda: not app._syncing)
            await wait_for(pilot, lambda: app.screen.query_one(InboxTable).row_count >= 3)
            rows = app.screen.query_one(InboxTable).row_count
            # One more report: fewer than the first sync's 3, and still announced and shown.
            dovecot.append([microsoft_report(4)])
            await pilot.press("s")
            await wait_for(pilot, lambda: "1 new report(s)" in messages(app))
            await wait_for(pilot, lambda: app.screen.query_one(InboxTable).row_count == rows + 1)


async def test_a_watcher_that_keeps_failing_says_retrying_since_in_the_sync_line(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from test_faults_tui import PASSWORD_ENV

    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    with Store(tmp_path / "s.sqlite3") as store:
        app = TlsrptApp(StoreBackend(store), Config(accounts=(_account(dovecot),)), live=True)
        async with app.run_test(size=(140, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: "retrying since" in screen_text(app))
            text = screen_text(app)
            assert "imap tui/INBOX: retrying since" in text and "login refused" in text
            assert "not the password" not in text
            state = app.supervisor.states["imap tui/INBOX"]
            assert state.failing and state.failures >= 1
            assert app.is_running


async def test_a_check_that_cannot_run_is_retried_with_backoff_and_notified_once(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from tlsrpt_tui.core.findings import DomainStatus, Severity

    calls: list[float] = []

    async def checker(domain: str):  # type: ignore[no-untyped-def]
        import time

        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise OSError("resolver unreachable")
        return DomainStatus(domain, datetime.now(UTC).isoformat(), Severity.OK), None

    with Store(tmp_path / "s.sqlite3") as store:
        app = TlsrptApp(store, Config(domains=("example.com",)), live=True, checker=checker)
        # the notification must still be listed after three slow retries on a loaded machine
        app.NOTIFICATION_TIMEOUT = 600
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: len(calls) >= 3, timeout=20)
            await wait_for(pilot, lambda: app.supervisor.states["check example.com"].state
                           == "running")
            failures = [m for m in messages(app) if "check failed" in m]
            assert len(failures) == 1 and "resolver unreachable" in failures[0]
            # 1 s then 2 s of backoff (10% jitter at most; a loaded machine only lengthens
            # them), not the 1-hour interval.
            first, second = calls[1] - calls[0], calls[2] - calls[1]
            assert 0.9 <= first < 30 and 1.8 <= second < 30, (first, second)
            assert app.is_running


async def test_a_sync_process_that_dies_is_shown_in_the_sync_line_and_replaced(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import signal

    from test_faults_tui import PASSWORD_ENV

    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    dovecot.append([google_report(1)])
    with Store(tmp_path / "s.sqlite3") as store:
        backend = StoreBackend(store)
        app = TlsrptApp(backend, Config(accounts=(_account(dovecot),)), live=True)
        try:
            async with app.run_test(size=(140, 40), notifications=True) as pilot:
                await wait_for(pilot, lambda: "tui/INBOX: watching" in screen_text(app), 30)
                syncer = backend._syncer
                first = syncer.pid
                assert first is not None
                os.kill(first, signal.SIGKILL)
                await wait_for(pilot, lambda: "imap sync process: retrying since"
                               in screen_text(app), 30)
                assert "the sync process ended (killed by" in screen_text(app)
                assert "SIGKILL" in app.supervisor.states["imap sync process"].reason
                # a new sync process takes over, and what arrives is shown
                await wait_for(pilot, lambda: syncer.pid not in (None, first), 30)
                dovecot.append([microsoft_report(2)])
                await wait_for(pilot, lambda: app.screen.query_one(InboxTable).row_count == 2,
                               30)
                assert app.is_running
        finally:
            backend.close()
        assert syncer.pid is None
