"""The alert engine on a real store (no network): config, gaps learnt from each sender's rhythm,
late reports, reminders, failing workers and channels, the TUI's listing, and the CLI's exit 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from peers.tlsrpt_mail import fresh_report

from tlsrpt_tui.core.alerts import Alert, safe_line
from tlsrpt_tui.core.findings import DomainStatus, Finding, Severity
from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.service.alerts import Alerter
from tlsrpt_tui.service.config import AlertSettings, ConfigError, load_config
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.service.supervise import WorkerState
from tlsrpt_tui.store import alerts as db
from tlsrpt_tui.store.database import Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY0 = datetime(2026, 11, 20, tzinfo=UTC)


def ingest(store: Store, data: bytes, name: str, kind: str = "http") -> None:
    origin = Origin(kind=kind, path=name)
    summary = ingest_stream(store, [RawInput(name, data, origin)])
    assert summary.new == 1, summary


def alerter(store: Store, now: datetime = NOW, **kw: object) -> Alerter:
    return Alerter(store, AlertSettings(**kw), clock=lambda: now)  # type: ignore[arg-type]


def codes(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT code FROM alerts ORDER BY id")]


def test_alerts_config_channels_and_errors_name_file_key_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[alerts]\nmin_severity = "error"\nreport_gap_hours = 48\n'
        '[[alerts.mail]]\nhost = "smtp.example.com"\nfrom = "a <a@example.com>"\n'
        'to = "b@example.com"\npassword_env = "X"\nusername = "u"\n'
        '[[alerts.webhook]]\nurl = "https://hooks.example.com/t/SECRET"\n'
    )
    cfg.chmod(0o600)
    config = load_config(cfg)
    a = config.alerts
    assert a.min_severity == "error" and a.report_gap_hours == 48
    assert a.mail[0].sender == "a <a@example.com>" and a.mail[0].to == ("b@example.com",)
    assert [c.name for c in a.channels] == ["mail#1 (smtp.example.com)",
                                            "webhook#1 (hooks.example.com)"]
    assert "SECRET" not in repr(a)
    for bad, reason in [
        ('[alerts]\nmin_severity = "loud"\n', "alerts.min_severity"),
        ('[[alerts.mail]]\nhost = "x"\n', "alerts.mail[0].to"),
        ('[[alerts.mail]]\nhost = "x"\nto = ["a@b"]\nsecurity = "ssl"\n',
         "alerts.mail[0].security"),
        ('[[alerts.webhook]]\nurl = "ftp://x/y"\n', "alerts.webhook[0].url"),
        ('[[alerts.webhook]]\nurl = "https://x/"\nsecret = 1\n', "secret"),
    ]:
        cfg.write_text(bad)
        with pytest.raises(ConfigError) as info:
            load_config(cfg)
        assert str(cfg) in str(info.value) and reason in str(info.value)
    # The command: exit 2 and one line naming the file and key.
    cfg.write_text('[alerts]\nmin_severity = "loud"\n')
    out = subprocess.run([sys.executable, "-m", "tlsrpt_tui.cli", "watch", "--config", str(cfg),
                          "--db", str(tmp_path / "s.sqlite3")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "alerts.min_severity" in out.stderr
    assert str(cfg) in out.stderr


def test_a_daily_sender_going_silent_is_one_gap_alert_cleared_by_its_next_report(
    tmp_path: Path,
    new_db,
) -> None:
    with Store(new_db("s")) as store:
        # Google reports daily for 7 days (Nov 20..26); Microsoft only twice (no rhythm).
        for i in range(7):
            ingest(store, fresh_report(i, failures=False, start=DAY0 + timedelta(days=i)), f"g{i}")
        for i in (0, 3):
            ingest(store, fresh_report(50 + i, org="Microsoft Corporation", failures=False,
                                       start=DAY0 + timedelta(days=i)), f"m{i}")
        a = alerter(store, report_gap_hours=72)
        a.scan_reports()
        raised = a.scan_gaps()
        assert [x.code for x in raised] == ["report.gap"]
        assert "Google Inc." in raised[0].summary and raised[0].domain == "example.com"
        assert a.scan_gaps() == []  # once per silence
        # Not yet 72 hours for a sender whose last report ended 40 hours ago: nothing.
        assert alerter(store, DAY0 + timedelta(days=7, hours=40),
                       report_gap_hours=72).scan_gaps() == []
        # The sender reports again: the gap closes; a later silence is a new alert.
        ingest(store, fresh_report(8, failures=False, start=DAY0 + timedelta(days=8)), "g8")
        a.scan_reports()
        assert db.get_state(store, "gap:example.com|google inc.") is None
        later = alerter(store, NOW + timedelta(days=5), report_gap_hours=72)
        assert [x.code for x in later.scan_gaps()] == ["report.gap"]
        assert codes(store) == ["report.gap", "report.gap"]


def test_late_reports_and_file_imports_raise_nothing_fresh_http_reports_do(
    tmp_path: Path,
    new_db,
) -> None:
    with Store(new_db("s")) as store:
        a = alerter(store, datetime.now(UTC))
        ingest(store, fresh_report(1, start=datetime.now(UTC) - timedelta(days=30)), "late")
        ingest(store, fresh_report(2), "f", kind="file")
        ingest(store, fresh_report(3), "h")
        raised = a.scan_reports()
        assert [x.code for x in raised] == ["report.failures"]
        assert raised[0].summary == \
            "3 failed sessions reported by Google Inc. (certificate-expired 3)"
        assert a.scan_reports() == []  # the cursor moved with the alert
        listed = db.recent(store)
        assert [x.alert.code for x in listed] == ["report.failures"]
        assert listed[0].alert.report_pk is not None and listed[0].deliveries == ()


def test_expiring_certificate_once_then_reminded_and_item_changes(tmp_path: Path, new_db) -> None:
    def status(findings: list[Finding]) -> DomainStatus:
        return DomainStatus("example.com", NOW.isoformat(), Severity.WARNING, {}, findings)

    soon = Finding("tls.expiring-soon", Severity.WARNING, "mx1.example.com",
                   "mx1.example.com: expires 2026-12-10 UTC (9 days left)", "renew it now")
    with Store(new_db("s")) as store:
        a = alerter(store, remind_hours=24)
        _, raised = a.store_check(status([soon]))
        assert sorted(x.code for x in raised) == ["check.changed", "check.expiring"]
        assert a.store_check(status([soon]))[1] == []
        later = alerter(store, NOW + timedelta(hours=25), remind_hours=24)
        _, again = later.store_check(status([soon]))
        assert [x.code for x in again] == ["check.expiring"] and "reminder" in again[0].summary
        ok = Finding("tls.ok", Severity.OK, "mx1.example.com", "fine")
        _, recovered = later.store_check(status([ok]))
        assert [x.summary for x in recovered] == [
            "STARTTLS mx1.example.com recovered (warning → ok)"
        ]


def test_sync_failing_after_30_minutes_and_its_recovery_and_a_failing_channel(
    tmp_path: Path,
    new_db,
) -> None:
    since = NOW - timedelta(minutes=31)
    failing = {"imap reports/INBOX": WorkerState("imap reports/INBOX", "retrying", since,
                                                 "login refused", 5)}
    with Store(new_db("s")) as store:
        settings = {"mail": (), "webhook": ()}
        a = alerter(store, **settings)
        assert [x.code for x in a.workers(failing)] == ["sync.failing"]
        assert a.workers(failing) == []
        running = {"imap reports/INBOX": WorkerState("imap reports/INBOX", "running", NOW)}
        back = a.workers(running)
        assert [x.summary.startswith("syncing again") for x in back] == [True]
        db.set_state(store, "channel:mail#1 (x)", {"since": since.isoformat(), "error": "down"})
        [alert] = a.channels_failing()
        assert alert.code == "alert.delivery" and "mail#1 (x) failing" in alert.summary
        assert a.channels_failing() == []


def test_safe_line_and_alert_shapes() -> None:
    assert safe_line("a\r\nBcc: x\x00\x1b[1m\u202e b") == "a Bcc: x [1m b"
    alert = Alert("report.gap", "k\r\n1", "warning", "example.com", "s\r\nX: y")
    assert "\n" not in alert.subject and alert.message_id.startswith("<")
    assert alert.webhook_payload()["key"] == "k 1"
    with pytest.raises(ValueError):
        Alert("report.nope", "k", "info", "d", "s")


def test_report_forged_when_the_input_carries_a_failed_dkim_verdict(tmp_path: Path, new_db) -> None:
    """The DKIM verdict stored with the input (raw_inputs.dkim_result) saying "fail" turns the
    report's failures into one report.forged (tests/test_dkim.py does it with real signatures)."""
    with Store(new_db("s")) as store:
        a = alerter(store, datetime.now(UTC))
        assert a.scan_reports() == []
        ingest(store, fresh_report(1), "forged")
        ingest(store, fresh_report(2), "signed")
        store.conn.execute("UPDATE raw_inputs SET dkim_result = 'fail' WHERE source = 'forged'")
        store.conn.execute("UPDATE raw_inputs SET dkim_result = 'pass' WHERE source = 'signed'")
        raised = a.scan_reports()
        assert sorted(x.code for x in raised) == ["report.failures", "report.forged"]
        forged = next(x for x in raised if x.code == "report.forged")
        assert "failed DKIM (fail)" in forged.summary


def test_a_first_sync_counts_forged_reports_apart_not_as_reports_with_failures(
    tmp_path: Path, new_db
) -> None:
    """report.backlog: N reports, M with failures; a report whose mail failed DKIM is counted
    as forged, never among those with failures (its failures are not real)."""
    with Store(new_db("s")) as store:
        a = alerter(store, datetime.now(UTC))
        for i, name in enumerate(["real-1", "real-2", "forged-1", "forged-2"]):
            origin = Origin("imap", account="acct", folder="INBOX", uidvalidity=1, uid=i + 1)
            summary = ingest_stream(store, [RawInput(name, fresh_report(100 + i), origin)])
            assert summary.new == 1
        store.conn.execute("UPDATE raw_inputs SET dkim_result = 'fail'"
                           " WHERE source LIKE 'forged-%'")
        (backlog,) = a.folder_synced("acct", "INBOX")
        assert backlog.code == "report.backlog"
        assert backlog.summary.endswith("stored 4 report(s), 2 with failures, 2 forged (DKIM fail)")
        assert backlog.details["with_failures"] == 2 and backlog.details["forged"] == 2
        assert codes(store) == ["report.backlog"]  # none of them one by one


async def test_a_failing_channel_is_retried_30_s_doubling_to_15_minutes_alerts_wait_in_order(
    tmp_path: Path, new_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alerts.md: "retried with backoff (30 s doubling to 15 min) for at least 24 hours; alerts
    wait in the store meanwhile, in order". The waits of a channel down for ~2 hours, then the
    same alert (the oldest) first once it is back, and the next in order."""
    from tlsrpt_tui.net.alert_send import SendError
    from tlsrpt_tui.service import deliver

    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(deliver.asyncio, "sleep", no_sleep)
    with Store(new_db("s")) as store:
        with store.transaction():
            for i in range(3):
                db.insert(store, Alert("report.gap", f"k{i}", "warning", "example.com",
                                       f"alert {i}"), ["hook"])
        sent: list[str] = []
        up = False

        async def send(alert: Alert) -> None:
            if not up:
                raise SendError("HTTP 503")
            sent.append(alert.summary)

        d = deliver.Deliverer(store, "hook", send)
        for _ in range(12):  # 30+60+...+900*7: about two hours of a dead receiver
            assert await d.deliver_one()
        assert waits == [30, 60, 120, 240, 480, 900, 900, 900, 900, 900, 900, 900]
        assert db.pending_count(store, "hook") == 3 and sent == []
        assert deliver.channel_failure(store, "hook")["error"] == "HTTP 503"
        up = True
        while await d.deliver_one():
            pass
        assert sent == ["alert 0", "alert 1", "alert 2"]  # in the order they were raised
        assert deliver.channel_failure(store, "hook") is None
        assert waits[-1] == 900  # no wait once delivering; the backoff starts over
        assert d._delay == deliver.RETRY_FIRST


@pytest.mark.parametrize(("days", "alerted"), [
    ((1, 3, 4, 5, 7), True),  # 5 of the last 7 days of its reports
    ((0, 1, 3, 5, 7), False),  # 5 reports, but 4 of them in the last 7 days: no rhythm
])
def test_report_gap_needs_5_of_the_last_7_days(tmp_path: Path, new_db, days, alerted) -> None:
    with Store(new_db("s")) as store:
        for i in days:
            ingest(store, fresh_report(i, failures=False, start=DAY0 + timedelta(days=i)), f"g{i}")
        a = alerter(store, report_gap_hours=72)  # NOW: days after the last report
        a.scan_reports()
        assert [x.code for x in a.scan_gaps()] == (["report.gap"] if alerted else [])


def test_conditions_still_true_are_re_announced_at_most_every_remind_hours(
    tmp_path: Path, new_db
) -> None:
    """alerts.md ``remind_hours``: "a condition still true is re-announced at most this often
    (0: never)": a failing account, a failing channel, a silent sender."""
    since = NOW - timedelta(minutes=31)
    failing = {"imap reports/INBOX": WorkerState("imap reports/INBOX", "retrying", since,
                                                 "login refused", 5)}

    def summaries(raised: list[Alert]) -> list[str]:
        return [f"{x.code}: {x.summary}" for x in raised]

    with Store(new_db("s")) as store:
        for i in range(7):  # a daily sender, silent since DAY0 + 7 days
            ingest(store, fresh_report(i, failures=False, start=DAY0 + timedelta(days=i)), f"g{i}")
        db.set_state(store, "channel:mail#1 (x)", {"since": since.isoformat(), "error": "down"})

        def at(hours: float, remind: int = 24) -> Alerter:
            return alerter(store, NOW + timedelta(hours=hours), remind_hours=remind)

        first = at(0)
        first.scan_reports()
        assert [x.code for x in first.workers(failing) + first.channels_failing()
                + first.scan_gaps()] == ["sync.failing", "alert.delivery", "report.gap"]
        for later in (at(23), at(23.9), at(48, remind=0)):  # not due yet, or reminders off
            assert later.workers(failing) + later.channels_failing() + later.scan_gaps() == []
        due = at(24)
        raised = due.workers(failing) + due.channels_failing() + due.scan_gaps()
        assert [x.code for x in raised] == ["sync.failing", "alert.delivery", "report.gap"]
        assert all(x.summary.endswith("(reminder)") for x in raised), summaries(raised)
        again = at(30)  # the same reminder is not raised twice
        assert again.workers(failing) + again.channels_failing() + again.scan_gaps() == []
        second = at(48.6)
        assert len(second.workers(failing) + second.channels_failing()
                   + second.scan_gaps()) == 3
        assert len({r[0] for r in store.conn.execute("SELECT key FROM alerts")}) == 9


def test_require_aligned_dkim_treats_an_unaligned_signature_as_forged(
    tmp_path: Path, new_db
) -> None:
    """alerts.md: report.forged also when the mail "is unaligned when [alerts]
    require_aligned_dkim = true" (signed, verified, but not by the reporting organization)."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[alerts]\nrequire_aligned_dkim = true\n")
    assert load_config(cfg).alerts.require_aligned_dkim is True
    for strict, expected in ((False, ["report.failures"]), (True, ["report.forged"])):
        with Store(new_db(f"s{strict}")) as store:
            a = alerter(store, datetime.now(UTC), require_aligned_dkim=strict)
            assert a.scan_reports() == []
            ingest(store, fresh_report(1), "unaligned")
            store.conn.execute("UPDATE raw_inputs SET dkim_result = 'pass', dkim_aligned = 0")
            raised = a.scan_reports()
            assert [x.code for x in raised] == expected
            if strict:
                assert "failed DKIM (unaligned)" in raised[0].summary


def test_a_failures_alert_names_each_result_type_its_fix_the_mx_the_live_status_and_more(
    tmp_path: Path,
    new_db,
) -> None:
    """alerts.md, report.failures and the mail body: the domain, the organization, each result
    type with its count, meaning and fix (checks.md), the receiving MX/IP, the live status of
    the domain's items from its last stored check, and the command that shows more."""
    from tlsrpt_tui.core.checks.catalogue import RESULT_TYPES

    with Store(new_db("s")) as store:
        a = alerter(store, datetime.now(UTC))
        a.store_check(DomainStatus("example.com", NOW.isoformat(), Severity.ERROR, {}, [
            Finding("tls.ok", Severity.OK, "mx.example.com", "TLSv1.3, valid until 2027-03-01"),
            Finding("sts.record.missing", Severity.ERROR, "example.com", "no _mta-sts record"),
        ]))
        ingest(store, fresh_report(1), "h")
        [alert] = a.scan_reports()
        pk = store.conn.execute("SELECT id FROM reports").fetchone()[0]
    meaning, fix = RESULT_TYPES["certificate-expired"]
    assert alert.code == "report.failures" and alert.domain == "example.com"
    assert alert.subject == ("[tlsrpt-tui] example.com: 3 failed sessions reported by "
                             "Google Inc. (certificate-expired 3)")
    body = alert.body
    assert "Google Inc. reports 3 failed and 50 successful TLS sessions to example.com" in body
    assert f"- certificate-expired: 3 session(s): {meaning}." in body
    assert f"  Fix: {fix}." in body
    assert "Receiving MX / IP named in the report:\n- mx.example.com" in body
    assert "Live status of example.com (last check):" in body
    assert "- STARTTLS mx.example.com: ok — TLSv1.3, valid until 2027-03-01" in body
    assert f"More: tlsrpt-tui show {pk}" in body
    assert alert.details["receiving"] == ["mx.example.com"]
    assert alert.details["result_types"] == {"certificate-expired": 3}


def test_a_failing_channel_is_announced_on_the_other_channels_only(
    tmp_path: Path,
    new_db,
) -> None:
    """alerts.md alert.delivery: "a channel has failed for 30 minutes (shown in the TUI and
    the log; sent on the other channels)": owed to every channel but the failing one."""
    from tlsrpt_tui.service.config import MailChannel, WebhookChannel

    mail = MailChannel(host="smtp.example.com", to=("a@example.com",), name="mail#1 (smtp)")
    hook = WebhookChannel(url="https://hooks.example.com/x", name="webhook#1 (hooks)")
    since = NOW - timedelta(minutes=31)
    with Store(new_db("s")) as store:
        a = Alerter(store, AlertSettings(mail=(mail,), webhook=(hook,)), clock=lambda: NOW)
        db.set_state(store, "channel:mail#1 (smtp)", {"since": since.isoformat(),
                                                      "error": "connection refused"})
        [alert] = a.channels_failing()
        assert alert.code == "alert.delivery"
        assert "mail#1 (smtp) failing since" in alert.summary
        assert "connection refused" in alert.summary
        owed = store.conn.execute("SELECT channel FROM alert_deliveries WHERE alert_id = ?",
                                  (alert.pk,)).fetchall()
        assert [r[0] for r in owed] == ["webhook#1 (hooks)"]
        # an ordinary alert is owed to both
        ingest(store, fresh_report(1), "h")
        [failures] = Alerter(store, AlertSettings(mail=(mail,), webhook=(hook,))).scan_reports()
        owed = store.conn.execute("SELECT channel FROM alert_deliveries WHERE alert_id = ?"
                                  " ORDER BY channel", (failures.pk,)).fetchall()
        assert [r[0] for r in owed] == ["mail#1 (smtp)", "webhook#1 (hooks)"]
