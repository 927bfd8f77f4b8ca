"""``watch`` never runs store work on its event loop (the project rule "Never block the event
loop"): a scan of a large backlog, a slow disk or a PostgreSQL round trip there would stall
every IDLE connection, check, delivery and the receiver sharing the loop.

The service runs as its own process (real Dovecot, SMTP and webhook peers, a few domains on
the real Knot + Unbound) under a guard that reports every SQL statement executed on a thread
while that thread runs an event loop: SQLite through a trace callback on every connection,
PostgreSQL through psycopg's cursors (the running one serves the HTTPS receiver too).
Opening the store and migrating it before the loop starts are allowed; nothing after.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from peers.alert_peers import PASSWORD, AlertPeers, alert_peers  # noqa: F401
from peers.dns import DnsPeers, Zone, dns_peers_factory  # noqa: F401
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import fresh_report
from test_receiver import GZ, a_report
from test_watch_alerts import wait_for
from test_workers import (  # noqa: F401
    IMAP_ENV,
    REPO,
    SMTP_ENV,
    Shared,
    account_toml,
    shared,
    write,
)

pytestmark = pytest.mark.peers

ON_LOOP = "SQL on the event loop:"

#: ``python -c GUARD watch ...``: the command, with every statement run on a loop's thread
#: written to stderr (asyncio's running loop is per thread, so the writer, lease and store
#: threads and the parser processes never count).
GUARD = f"""
import asyncio, sqlite3, sys

def on_loop(sql):
    if asyncio._get_running_loop() is not None:
        text = " ".join(str(sql).split())[:300]
        print("{ON_LOOP} " + text, file=sys.stderr, flush=True)

_connect = sqlite3.connect

def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.set_trace_callback(on_loop)
    return conn

sqlite3.connect = connect

import psycopg

for name in ("execute", "executemany"):
    def guarded(self, query, *args, _original=getattr(psycopg.Cursor, name), **kwargs):
        on_loop(query)
        return _original(self, query, *args, **kwargs)
    setattr(psycopg.Cursor, name, guarded)

from tlsrpt_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""

DOMAINS = [f"d{i}.loop.test" for i in range(3)]


@pytest.fixture
def domains(dns_peers_factory) -> Iterator[DnsPeers]:  # noqa: F811
    body = "".join(
        f'_smtp._tls.{d.removesuffix(".test")} 300 IN TXT "v=TLSRPTv1; rua=mailto:r@{d}"\n'
        f'_mta-sts.{d.removesuffix(".test")} 300 IN TXT "v=STSv1; id=1"\n'
        for d in DOMAINS
    )
    yield dns_peers_factory([Zone("test.", body)], cache=False)


def config(tmp: Path, shared: Shared, dc: Dovecot, peers: AlertPeers,  # noqa: F811
           dns: DnsPeers, extra: str = "") -> Path:
    return write(tmp, shared, (
        f'[checks]\ninterval = 5\nresolver = "{dns.resolver}"\nprobe = false\ntimeout = 3\n'
        + extra + account_toml(dc, 50) + peers.config_toml(SMTP_ENV)
    ), top="domains = [" + ", ".join(f'"{d}"' for d in DOMAINS) + "]\n")


class Guarded:
    """``watch`` under GUARD, with a worker's environment (test_workers), stderr in a file."""

    def __init__(self, tmp: Path, shared: Shared, cfg: Path, *extra: str) -> None:  # noqa: F811
        self.log = tmp / "guarded.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
        env.update({IMAP_ENV: Dovecot.password, SMTP_ENV: PASSWORD, "PYTHONPATH": str(REPO),
                    **shared.env})
        args = [sys.executable, "-c", GUARD, "watch", "--config", str(cfg), "--db", shared.db,
                *extra]
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(args, env=env, stderr=err, stdout=subprocess.DEVNULL,
                                         cwd=REPO)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def on_loop(self) -> list[str]:
        return [line for line in self.text().splitlines() if line.startswith(ON_LOOP)]


def test_watch_once_runs_no_statement_on_its_event_loop(
    dovecot: Dovecot, alert_peers: AlertPeers, domains: DnsPeers,  # noqa: F811
    shared: Shared, tmp_path: Path,  # noqa: F811
) -> None:
    dovecot.append([fresh_report(i) for i in range(3)])
    cfg = config(tmp_path, shared, dovecot, alert_peers, domains)
    service = Guarded(tmp_path, shared, cfg, "--once")
    code = service.proc.wait(120)
    log = service.text()
    assert service.on_loop() == [], log[-4000:]
    # it did the work whose statements are looked at
    assert code == 0 and "one round done: 0 problem(s)" in log, log[-4000:]
    assert shared.count("check_results") == len(DOMAINS)
    assert shared.count("reports") == 3
    assert not shared.query("SELECT 1 FROM alert_deliveries WHERE state != 'delivered'")
    assert shared.count("alert_deliveries") >= 2


def test_a_running_watch_runs_no_statement_on_its_event_loop(
    dovecot: Dovecot, alert_peers: AlertPeers, domains: DnsPeers,  # noqa: F811
    shared: Shared, tmp_path: Path,  # noqa: F811
) -> None:
    cfg = config(tmp_path, shared, dovecot, alert_peers, domains,
                 '[receiver]\nlisten = "127.0.0.1:0"\nrate_limit = 0\n')
    service = Guarded(tmp_path, shared, cfg)
    try:
        wait_for(shared.first_sync_done, "the first sync", service, limit=60)  # type: ignore[arg-type]
        # the HTTPS receiver shares the loop too
        listening = r"receiver listening on (http://\S+)"
        wait_for(lambda: re.search(listening, service.text()) is not None, "the receiver",
                 service, limit=60)  # type: ignore[arg-type]
        url = re.search(listening, service.text())
        assert url is not None
        with httpx.Client() as client:
            reply = client.post(url.group(1), content=gzip.compress(a_report(60)), headers=GZ)
        assert reply.status_code == 201, reply.text
        dovecot.append([fresh_report(700)])  # stored, alerted and delivered through IDLE
        wait_for(lambda: len(alert_peers.smtp.received.messages) >= 1
                 and len(alert_peers.webhook.posts) >= 1, "the alert", service,  # type: ignore[arg-type]
                 limit=60)
        # every domain checked twice: the second time against the first stored result
        wait_for(lambda: shared.count("check_results") >= 2 * len(DOMAINS),
                 "a second round of checks", service, limit=60)  # type: ignore[arg-type]
        wait_for(lambda: not shared.query(
            "SELECT 1 FROM alert_deliveries WHERE state != 'delivered'"),
            "every delivery recorded", service, limit=60)  # type: ignore[arg-type]
    finally:
        if service.proc.poll() is None:
            service.proc.send_signal(signal.SIGTERM)
        code = service.proc.wait(30)
    log = service.text()
    assert service.on_loop() == [], log[-4000:]
    assert code == 0 and "stopped" in log, log[-4000:]
