"""``watch`` raises the alerts of an IMAP batch inside the batch's own transaction (alerts.md:
"in the same transaction as the event that raised it"), on both store backends, against a
real Dovecot: a commit that dies after the alert was written leaves neither the reports nor
the alert; a failing alert step never costs the batch (its reports wait for the scan)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import fresh_report

from tlsrpt_tui.service import sync
from tlsrpt_tui.service.config import AccountSettings, Config
from tlsrpt_tui.service.monitor import Monitor
from tlsrpt_tui.store import alerts as db
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

ENV = "TLSRPT_TEST_IN_COMMIT_IMAP"


class Crash(BaseException):
    """The process dying between the alert's INSERT and the batch's COMMIT."""


def _account(dc: Dovecot) -> AccountSettings:
    return AccountSettings(name="test", host=dc.host, port=dc.imaps_port, security="tls",
                           username=dc.user, password_env=ENV, ca_file=str(dc.ca_file))


def _counts(store: Store) -> tuple[int, int, int]:
    q = store.conn.execute
    return (int(q("SELECT count(*) FROM reports").fetchone()[0]),
            int(q("SELECT count(*) FROM alerts").fetchone()[0]),
            int(q("SELECT count(*) FROM alert_pending_reports").fetchone()[0]))


async def _sync(monitor: Monitor, account: AccountSettings, hook: sync.CommitHook,
                events: list[sync.SyncEvent]) -> None:
    await sync.sync_all(monitor.store, [account], on_progress=events.append, in_commit=hook)


async def test_a_batch_commits_its_reports_and_their_alerts_together(
    dovecot: Dovecot,  # noqa: F811
    db_location,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(ENV, dovecot.password)
    account = _account(dovecot)
    with Store(db_location) as store:
        with store.transaction():  # past the folder's first sync: each report is announced
            db.set_state(store, "first-sync-done:test/INBOX", {})
        monitor = Monitor(Config(accounts=(account,)), store)
        dovecot.append([fresh_report(1), fresh_report(2, failures=False)])

        def dies_after_the_alerts(s: Store, input_pks: list[int]) -> Sequence[object]:
            raised = monitor.in_commit(s, input_pks)
            assert [a.code for a in raised] == ["report.failures"]
            raise Crash

        with pytest.raises(Crash):
            await _sync(monitor, account, dies_after_the_alerts, [])
        assert _counts(store) == (0, 0, 0)  # nothing of the batch, nor its alert

        events: list[sync.SyncEvent] = []
        await _sync(monitor, account, monitor.in_commit, events)
        # No scan ran: the alert came with the commit, and nothing is left pending.
        assert _counts(store) == (2, 1, 0)
        [batch] = [e for e in events if e.kind == "batch"]
        assert [a.code for a in batch.raised] == ["report.failures"]  # type: ignore[attr-defined]
        assert monitor.alerter.scan_reports() == []


async def test_a_failing_alert_step_never_costs_the_batch_the_scan_catches_up(
    dovecot: Dovecot,  # noqa: F811
    db_location,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(ENV, dovecot.password)
    account = _account(dovecot)
    with Store(db_location) as store:
        with store.transaction():
            db.set_state(store, "first-sync-done:test/INBOX", {})
        monitor = Monitor(Config(accounts=(account,)), store)
        dovecot.append([fresh_report(3)])

        def buggy(s: Store, input_pks: list[int]) -> Sequence[object]:
            monitor.in_commit(s, input_pks)  # its alert is written, then undone
            raise ValueError("a bug in the alert step")

        await _sync(monitor, account, buggy, [])
        assert _counts(store) == (1, 0, 1)  # stored; waits for the scan
        assert "a bug in the alert step" in caplog.text
        assert [a.code for a in monitor.alerter.scan_reports()] == ["report.failures"]
        assert _counts(store) == (1, 1, 0)
