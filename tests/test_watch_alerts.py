"""``tlsrpt-tui watch`` end to end: real Dovecot, a real SMTP submission server (STARTTLS + AUTH)
and a real HTTPS webhook receiver. The service runs as its own process, as under systemd."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from peers.alert_peers import PASSWORD, AlertPeers, alert_peers  # noqa: F401
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import fresh_report

pytestmark = pytest.mark.peers

IMAP_ENV = "TLSRPT_TEST_WATCH_IMAP"
SMTP_ENV = "TLSRPT_TEST_WATCH_SMTP"
#: kill -9 trials of the delivery test: 3 keep CI quick; the issue's 20 with
#: ``TLSRPT_KILL_TRIALS=20 .venv/bin/python -m pytest -q tests/test_watch_alerts.py -k kill_9``
#: (about a minute on the 2-core box)
TRIALS = int(os.environ.get("TLSRPT_KILL_TRIALS", "3"))


def write_config(tmp: Path, dc: Dovecot, peers: AlertPeers, extra: str = "") -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(
        extra
        + "[[accounts]]\n"
        f'name = "reports"\nhost = "{dc.host}"\nport = {dc.imaps_port}\n'
        f'security = "tls"\nusername = "{dc.user}"\npassword_env = "{IMAP_ENV}"\n'
        f'ca_file = "{dc.ca_file}"\n\n'
        + peers.config_toml(SMTP_ENV)
    )
    return cfg


class Service:
    """The ``watch`` command as a child process, its stderr in a file."""

    def __init__(self, cfg: Path, db: Path, log: Path, dc: Dovecot) -> None:
        self.args = [sys.executable, "-m", "tlsrpt_tui.cli", "watch", "--config", str(cfg),
                     "--db", str(db)]
        self.env = {**os.environ, IMAP_ENV: dc.password, SMTP_ENV: PASSWORD}
        self.db = db
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        err = self.log.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stderr=err,
                                     stdout=subprocess.DEVNULL)
        err.close()
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def query(db: Path, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # not migrated yet
    finally:
        conn.close()


def wait_for(cond: Callable[[], bool], what: str, service: Service | None = None,
             limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if service is not None and not service.alive():
            raise AssertionError(f"watch exited while waiting for {what}:\n{service.text()}")
        if time.monotonic() > deadline:
            extra = service.text()[-3000:] if service is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n{extra}")
        time.sleep(0.1)


def first_sync_done(db: Path) -> bool:
    return bool(query(db, "SELECT 1 FROM alert_state WHERE name LIKE 'first-sync-done:%'"))


def test_a_failure_report_becomes_one_mail_and_one_webhook_within_seconds(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    service = Service(cfg, db, tmp_path / "watch.log", dovecot).start()
    try:
        wait_for(lambda: first_sync_done(db), "the first sync", service)
        time.sleep(0.5)  # IDLE is entered right after the first sync
        t0 = time.monotonic()
        dovecot.append([fresh_report(1)])
        wait_for(lambda: len(alert_peers.smtp.received.messages) >= 1, "the alert mail", service)
        wait_for(lambda: len(alert_peers.webhook.posts) >= 1, "the webhook", service)
        elapsed = time.monotonic() - t0
        assert elapsed < 20  # generous: the latency figure belongs in bench/
        time.sleep(2)  # nothing more comes
        assert len(alert_peers.smtp.received.messages) == 1
        assert len(alert_peers.webhook.posts) == 1
        mail = alert_peers.smtp.received.messages[0]
        hook = alert_peers.webhook.posts[0]
        assert mail["Subject"].startswith("[tlsrpt-tui] example.com: ")
        assert "failed sessions reported by Google Inc." in mail["Subject"]
        assert mail.get_content_type() == "text/plain"
        assert mail.get_content_charset() == "utf-8"
        body = mail.get_content()
        assert "tlsrpt-tui show " in body and "Fix:" in body
        assert hook["code"] == "report.failures" and hook["domain"] == "example.com"
        assert hook["text"] == mail["Subject"]
        assert set(hook) == {"code", "key", "severity", "domain", "summary", "details",
                             "raised_at", "text"}
        assert mail["Message-ID"].startswith("<") and hook["key"].startswith("report.failures:")
        rows = query(db, "SELECT channel, state FROM alert_deliveries")
        assert sorted(r[1] for r in rows) == ["delivered", "delivered"]
        # The password is nowhere in the log; the webhook URL's token neither.
        assert PASSWORD not in service.text() and "s3cret-token" not in service.text()
    finally:
        code = service.stop()
    assert code == 0, service.text()
    assert "stopped" in service.text()


def test_smtp_down_for_a_while_then_back_the_alert_arrives(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    alert_peers.smtp.stop()
    service = Service(cfg, db, tmp_path / "watch.log", dovecot).start()
    try:
        wait_for(lambda: first_sync_done(db), "the first sync", service)
        dovecot.append([fresh_report(2, org="Microsoft Corporation")])
        wait_for(lambda: len(alert_peers.webhook.posts) == 1, "the webhook", service)
        wait_for(
            lambda: bool(query(db, "SELECT 1 FROM alert_state WHERE name LIKE 'channel:mail%'")),
            "the mail channel failing", service,
        )
        assert query(db, "SELECT attempts > 0, state FROM alert_deliveries"
                         " WHERE channel LIKE 'mail%'") == [(1, "pending")]
        alert_peers.smtp.start()
        # The first retry comes 30 s after the first failure (the spec's backoff).
        wait_for(lambda: len(alert_peers.smtp.received.messages) == 1, "the mail after the "
                 "server came back", service, limit=90)
        wait_for(lambda: not query(db, "SELECT 1 FROM alert_state WHERE name LIKE 'channel:%'"),
                 "the channel to be clear again", service)
        assert "not delivered" in service.text() and "delivers again" in service.text()
    finally:
        assert service.stop() == 0


def test_kill_9_at_random_points_never_repeats_a_delivered_alert_nor_loses_one(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    rng = random.Random(int(os.environ.get("TLSRPT_KILL_SEED", "10")))
    service = Service(cfg, db, tmp_path / "watch.log", dovecot).start()
    wait_for(lambda: first_sync_done(db), "the first sync", service)
    sent = 0
    for trial in range(TRIALS):
        batch = [fresh_report(100 + trial * 10 + i) for i in range(3)]
        dovecot.append(batch)
        sent += len(batch)
        time.sleep(rng.uniform(0.0, 2.5))  # anywhere: fetching, storing, sending, recording
        service.kill9()
        service.start()
    try:
        wait_for(lambda: len({m["Message-ID"] for m in alert_peers.smtp.received.messages})
                 == sent, f"{sent} distinct mails", service, limit=90)
        wait_for(lambda: len({p["key"] for p in alert_peers.webhook.posts}) == sent,
                 f"{sent} distinct webhooks", service, limit=90)
        wait_for(lambda: not query(db, "SELECT 1 FROM alert_deliveries WHERE state != "
                                       "'delivered'"), "every delivery recorded", service)
        time.sleep(2)
    finally:
        assert service.stop() == 0
    mail_ids = [m["Message-ID"] for m in alert_peers.smtp.received.messages]
    keys = [p["key"] for p in alert_peers.webhook.posts]
    # Never lost: one per report. Never repeated beyond the one kill-window re-send per kill.
    assert len(set(mail_ids)) == sent and len(set(keys)) == sent
    assert len(mail_ids) - sent <= TRIALS and len(keys) - sent <= TRIALS
    assert len(query(db, "SELECT 1 FROM alerts WHERE code = 'report.failures'")) == sent


def run_once(cfg: Path, db: Path, dc: Dovecot) -> subprocess.CompletedProcess[str]:
    service = Service(cfg, db, db.with_suffix(".log"), dc)
    return subprocess.run([*service.args, "--once"], env=service.env, capture_output=True,
                          text=True, timeout=120)


def test_header_injection_through_the_organization_name_adds_no_header(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    first = run_once(cfg, db, dovecot)  # the folder's first sync (empty): nothing to say
    assert first.returncode == 0, first.stderr
    evil = "Evil Corp\r\nBcc: victim@example.org\r\nX-Injected: yes\n\x1b[31m\u202e\x00"
    dovecot.append([fresh_report(7, org=evil)])
    second = run_once(cfg, db, dovecot)
    assert second.returncode == 0, second.stderr
    assert len(alert_peers.smtp.received.messages) == 1
    raw = alert_peers.smtp.received.raw[0]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Injected:" not in head
    assert b"\x1b" not in raw and b"\x00" not in raw
    mail = alert_peers.smtp.received.messages[0]
    assert mail["Bcc"] is None and mail["X-Injected"] is None
    assert mail["To"] == "postmaster@example.test"
    assert "Evil Corp Bcc: victim@example.org X-Injected: yes" in " ".join(
        mail["Subject"].split())
    hook = alert_peers.webhook.posts[0]
    assert "\r" not in hook["summary"] and "\n" not in hook["text"]
    assert "\x1b" not in hook["details"]["organization"]


def test_first_sync_of_500_old_reports_is_one_backlog_alert_not_500(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    dovecot.append_maildir([fresh_report(1000 + i, failures=i % 5 == 0) for i in range(500)])
    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    done = run_once(cfg, db, dovecot)
    assert done.returncode == 0, done.stderr
    assert query(db, "SELECT count(*) FROM reports") == [(500,)]
    assert query(db, "SELECT code FROM alerts") == [("report.backlog",)]
    assert len(alert_peers.smtp.received.messages) == 1
    assert len(alert_peers.webhook.posts) == 1
    subject = " ".join(alert_peers.smtp.received.messages[0]["Subject"].split())
    assert "stored 500 report(s), 100 with failures" in subject
    # The next report with failures is announced on its own.
    dovecot.append([fresh_report(5000)])
    assert run_once(cfg, db, dovecot).returncode == 0
    assert [r[0] for r in query(db, "SELECT code FROM alerts ORDER BY id")] == [
        "report.backlog", "report.failures"
    ]


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_a_locked_store_and_a_restarted_dovecot_leave_the_service_running_and_catching_up(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    service = Service(cfg, db, tmp_path / "watch.log", dovecot).start()
    try:
        wait_for(lambda: first_sync_done(db), "the first sync", service)
        # Another process holds a write transaction longer than the busy timeout (10 s).
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), "14"],
                                  stdout=subprocess.PIPE)
        assert locker.stdout is not None and locker.stdout.readline().strip() == b"locked"
        dovecot.append([fresh_report(11)])
        wait_for(lambda: "database is locked" in service.text(), "the locked store error",
                 service, limit=40)
        assert service.alive()
        locker.wait(30)
        wait_for(lambda: len(alert_peers.smtp.received.messages) == 1, "the alert after the "
                 "lock", service, limit=60)
        # Dovecot restarts while the service idles: it reconnects and catches up.
        time.sleep(1)
        dovecot.restart()
        dovecot.append([fresh_report(12)])
        wait_for(lambda: len(alert_peers.smtp.received.messages) == 2, "the alert after the "
                 "restart", service, limit=60)
        assert len(alert_peers.webhook.posts) == 2
    finally:
        assert service.stop() == 0


def test_a_store_locked_when_the_service_starts_is_waited_for_not_an_exit(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A fresh store whose migrations are due while another process holds the write lock
    longer than the busy timeout: the service waits and then runs, it does not exit 2. The
    lock outlasts the service's start and one whole busy timeout (10 s), so the wait is told."""
    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db), "20"],
                              stdout=subprocess.PIPE)
    assert locker.stdout is not None and locker.stdout.readline().strip() == b"locked"
    done = run_once(cfg, db, dovecot)
    locker.wait(30)
    assert "is locked by another process" in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert first_sync_done(db)


def test_metrics_endpoint_serves_worker_alert_and_session_figures(
    dovecot: Dovecot,  # noqa: F811
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
) -> None:
    import urllib.request

    from peers.alert_peers import free_port

    cfg = write_config(tmp_path, dovecot, alert_peers)
    db = tmp_path / "s.sqlite3"
    port = free_port()
    service = Service(cfg, db, tmp_path / "watch.log", dovecot)
    service.args += ["--metrics", f"127.0.0.1:{port}"]
    service.start()
    try:
        wait_for(lambda: first_sync_done(db), "the first sync", service)
        dovecot.append([fresh_report(21)])
        wait_for(lambda: len(alert_peers.webhook.posts) == 1, "the webhook", service)
        wait_for(lambda: len(alert_peers.smtp.received.messages) == 1, "the mail", service)

        def scrape() -> str:
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as reply:
                return reply.read().decode()

        # The SMTP server has the mail before watch has recorded its delivery: wait for that.
        wait_for(lambda: "tlsrpt_alert_pending{channel=" not in scrape(),
                 "both deliveries recorded", service)
        text = scrape()
    finally:
        assert service.stop() == 0
    assert 'tlsrpt_worker_state{state="running",worker="imap reports/INBOX"} 1.0' in text
    assert 'tlsrpt_sessions_7d{domain="example.com",result="failed",sender="Google Inc."} 3.0' \
        in text
    assert "# TYPE tlsrpt_alert_pending gauge" in text
    assert 'tlsrpt_alert_pending{channel=' not in text  # both delivered: nothing waits
    assert 'tlsrpt_alert_channel_failing{channel="mail#1 (127.0.0.1)"} 0.0' in text


def test_without_alerts_config_alerts_go_to_the_store_and_log_and_sigint_exits_0(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
) -> None:
    """alerts.md: a config without [alerts] still runs the service; alerts then go nowhere
    but the log and the TUI's alert screen (the store). SIGINT ends it like SIGTERM."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[[accounts]]\n"
        f'name = "reports"\nhost = "{dovecot.host}"\nport = {dovecot.imaps_port}\n'
        f'security = "tls"\nusername = "{dovecot.user}"\npassword_env = "{IMAP_ENV}"\n'
        f'ca_file = "{dovecot.ca_file}"\n'
    )
    db = tmp_path / "s.sqlite3"
    service = Service(cfg, db, tmp_path / "watch.log", dovecot).start()
    try:
        wait_for(lambda: first_sync_done(db), "the first sync", service)
        dovecot.append([fresh_report(31)])
        wait_for(lambda: bool(query(db, "SELECT 1 FROM alerts")), "the alert", service)
        assert query(db, "SELECT code FROM alerts") == [("report.failures",)]
        assert query(db, "SELECT count(*) FROM alert_deliveries") == [(0,)]  # no channel
        wait_for(lambda: "alert report.failures example.com: 3 failed sessions reported by "
                 "Google Inc." in service.text(), "the alert's log line", service)
    finally:
        assert service.proc is not None
        if service.proc.poll() is None:
            service.proc.send_signal(signal.SIGINT)
        code = service.proc.wait(20)
    assert code == 0, service.text()
    assert "stopped" in service.text() and "Traceback" not in service.text()
    # journald-friendly: one plain line per event, each starting with its level, no colour
    lines = service.text().splitlines()
    assert lines and all(line.split(" ", 1)[0] in ("INFO", "WARNING", "ERROR")
                         for line in lines), lines
    assert "\x1b" not in service.text()

