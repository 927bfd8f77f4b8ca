"""Several workers on one store, as separate processes against real peers: none does a job twice.

- 4 ``sync`` processes on one Dovecot folder of 2,000 mails store exactly the 2,000 reports,
  none fetched into the store twice (the folder's lease: one syncs, the others wait for it);
- kill -9 of the folder's lease holder in the middle of a batch: a waiting ``sync`` takes over
  and finishes, nothing lost, nothing twice;
- 3 ``watch`` processes with 30 domains: every domain checked once per interval, shared among
  them, and still every interval after one of them is killed;
- 3 ``watch`` processes and alert channels: each alert delivered once, by one worker, and the
  channel taken over when that worker is killed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from peers.alert_peers import PASSWORD, AlertPeers, alert_peers  # noqa: F401
from peers.dns import DnsPeers, Zone, dns_peers_factory  # noqa: F401
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import fresh_report
from test_watch_alerts import wait_for

from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

IMAP_ENV = "TLSRPT_TEST_WORKERS_IMAP"
SMTP_ENV = "TLSRPT_TEST_WORKERS_SMTP"
DB_ENV = "TLSRPT_TEST_WORKERS_DB_PASSWORD"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Shared:
    """The one store every worker of a test uses: an SQLite file, or a PostgreSQL database."""

    db: str  # what each worker's --db says
    config: str  # the config's [store] table (the database password's source)
    location: Any  # what the test itself opens
    env: dict[str, str] = field(default_factory=dict)

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Rows, or [] while the store or its tables do not exist yet."""
        try:
            with Store(self.location) as store:
                return [tuple(r) for r in store.conn.execute(sql, args).fetchall()]
        except Exception:
            return []

    def count(self, table: str) -> int:
        rows = self.query(f"SELECT count(*) FROM {table}")
        return int(rows[0][0]) if rows else 0

    def folder_counts(self) -> tuple[int, int, int]:
        rows = self.query(
            "SELECT messages_seen, messages_new, messages_duplicate FROM imap_folders")
        return tuple(rows[0]) if rows else (0, 0, 0)  # type: ignore[return-value]

    def first_sync_done(self) -> bool:
        return bool(self.query(
            "SELECT 1 FROM alert_state WHERE name LIKE 'first-sync-done:%'"))


@pytest.fixture
def shared(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    if db_backend == "sqlite":
        path = tmp_path / "shared.sqlite3"
        yield Shared(str(path), "", path)
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield Shared(server.url(name), f'[store]\npassword_env = "{DB_ENV}"\n',
                     server.location(name), {DB_ENV: server.password})
    finally:
        server.drop_database(name)


class Worker:
    """One ``tlsrpt-tui`` process (sync or watch) on the shared store, stderr in a file."""

    def __init__(self, tmp: Path, index: int, shared: Shared, command: str, cfg: Path) -> None:
        self.log = tmp / f"worker{index}.log"
        self.args = [sys.executable, "-m", "tlsrpt_tui", command, "--config", str(cfg),
                     "--db", shared.db]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
        self.env.update({IMAP_ENV: Dovecot.password, SMTP_ENV: PASSWORD,
                         "PYTHONPATH": str(REPO), **shared.env})
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(self.args, env=self.env, stderr=err,
                                         stdout=subprocess.DEVNULL, cwd=REPO)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


def account_toml(dc: Dovecot, batch_size: int) -> str:
    return (
        "[[accounts]]\n"
        f'name = "reports"\nhost = "{dc.host}"\nport = {dc.imaps_port}\nsecurity = "tls"\n'
        f'username = "{dc.user}"\npassword_env = "{IMAP_ENV}"\nca_file = "{dc.ca_file}"\n'
        f"batch_size = {batch_size}\n\n"
    )


def write(tmp: Path, shared: Shared, tables: str, top: str = "") -> Path:
    """The config: top-level keys, the store's table, then the other tables."""
    cfg = tmp / "config.toml"
    cfg.write_text(top + shared.config + tables)
    return cfg


def test_four_syncs_on_one_folder_store_each_of_2000_mails_once(
    dovecot: Dovecot, shared: Shared, tmp_path: Path,  # noqa: F811
) -> None:
    n = 2000
    dovecot.append_maildir(fresh_report(i, failures=i % 7 == 0) for i in range(n))
    cfg = write(tmp_path, shared, account_toml(dovecot, batch_size=100))
    workers = [Worker(tmp_path, i, shared, "sync", cfg) for i in range(4)]
    codes = [w.proc.wait(300) for w in workers]
    logs = "\n".join(w.text() for w in workers)
    assert codes == [0, 0, 0, 0], logs[-3000:]
    assert shared.count("reports") == n and shared.count("raw_inputs") == n
    # Each message fetched into the store once, by whichever worker had the folder: the
    # running totals count every committed message, so a second copy would show here.
    assert shared.folder_counts() == (n, n, 0)
    assert "another worker is syncing it" in logs  # they did run at the same time
    assert shared.count("leases") == 0  # each released what it held


def test_kill_9_of_the_folder_holder_mid_batch_another_sync_finishes(
    dovecot: Dovecot, shared: Shared, tmp_path: Path,  # noqa: F811
) -> None:
    n = 1200
    dovecot.append_maildir(fresh_report(i) for i in range(n))
    cfg = write(tmp_path, shared, account_toml(dovecot, batch_size=20))
    workers = [Worker(tmp_path, i, shared, "sync", cfg) for i in range(2)]

    def holder_pid() -> int | None:
        rows = shared.query("SELECT holder FROM leases WHERE name = 'imap:reports/INBOX'")
        return int(rows[0][0].split(":")[-2]) if rows else None

    def mid_folder() -> bool:
        rows = shared.query("SELECT last_uid FROM imap_folders")
        return bool(rows) and 60 <= rows[0][0] < n - 200

    def other_waits() -> bool:
        """The worker not holding the folder has found it busy (the kill must come while it
        waits: a fast holder could otherwise be killed before the other even started)."""
        holder = holder_pid()
        return any(w.pid != holder and "waiting for it" in w.text() for w in workers)

    wait_for(lambda: holder_pid() is not None and other_waits() and mid_folder(),
             "a few batches committed while the other worker waits", limit=120)
    victim = next(w for w in workers if w.pid == holder_pid())
    survivor = next(w for w in workers if w is not victim)
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.proc.wait(10) == -signal.SIGKILL
    assert survivor.proc.wait(300) == 0, survivor.text()[-3000:]
    assert shared.count("reports") == n and shared.count("raw_inputs") == n
    # the killed worker's last batch was fetched again by the survivor, and stored once
    assert shared.folder_counts() == (n, n, 0)
    assert "waiting for it" in survivor.text()
    assert "waiting for it" not in victim.text()  # the one killed held the folder


DOMAINS = [f"d{i:02d}.workers.test" for i in range(30)]


@pytest.fixture
def thirty_domains(dns_peers_factory) -> Iterator[DnsPeers]:  # noqa: F811
    body = "".join(
        f'_smtp._tls.{d.removesuffix(".test")} 300 IN TXT "v=TLSRPTv1; rua=mailto:r@{d}"\n'
        for d in DOMAINS
    )
    yield dns_peers_factory([Zone("test.", body)], cache=False)


def checks(shared: Shared) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for domain, when in shared.query("SELECT domain, checked_at FROM check_results"
                                     " ORDER BY id"):
        out.setdefault(domain, []).append(datetime.fromisoformat(when).timestamp())
    return out


def test_three_watchers_check_each_of_30_domains_once_per_interval(
    thirty_domains: DnsPeers, shared: Shared, tmp_path: Path,
) -> None:
    interval = 6
    cfg = write(tmp_path, shared, (
        f'[checks]\ninterval = {interval}\nresolver = "{thirty_domains.resolver}"\n'
        "probe = false\ntimeout = 3\n"
        "[workers]\nlease_seconds = 4\n"
    ), top="domains = [" + ", ".join(f'"{d}"' for d in DOMAINS) + "]\n")
    workers = [Worker(tmp_path, i, shared, "watch", cfg) for i in range(3)]
    try:
        wait_for(lambda: len(checks(shared)) == 30, "a first check of every domain", limit=60)
        first_round = time.time()
        time.sleep(interval * 1.2)
        os.kill(workers[0].pid, signal.SIGKILL)  # in the middle of whatever it does
        killed = time.time()
        time.sleep(interval * 2.5)
    finally:
        codes = [w.stop() for w in workers[1:]]
        workers[0].proc.wait(10)
    assert codes == [0, 0], "\n".join(w.text()[-2000:] for w in workers)
    got = checks(shared)
    assert sorted(got) == DOMAINS
    for domain, times in got.items():
        gaps = [b - a for a, b in pairwise(times)]
        # never checked twice in one interval (checked_at has whole seconds)...
        assert all(gap >= interval - 1 for gap in gaps), (domain, gaps)
        # ...and never left waiting much longer, not even after a worker died
        assert all(gap <= interval * 2 for gap in gaps), (domain, gaps)
        assert sum(t > killed for t in times) >= 2, (domain, times, killed)
        assert sum(t >= first_round for t in times) >= 2, (domain, times)
    per_worker = Counter(
        i for i, w in enumerate(workers)
        for _ in re.finditer(r"INFO check d\d\d\.workers\.test: ", w.text())
    )
    assert sum(per_worker.values()) == sum(len(t) for t in got.values())
    assert len(per_worker) >= 2, per_worker  # shared, not all done by one


def test_three_watchers_deliver_each_alert_once_and_take_over_a_killed_deliverer(
    dovecot: Dovecot, alert_peers: AlertPeers, shared: Shared, tmp_path: Path,  # noqa: F811
) -> None:
    cfg = write(tmp_path, shared, "[workers]\nlease_seconds = 4\n"
                + account_toml(dovecot, 50) + alert_peers.config_toml(SMTP_ENV))
    workers = [Worker(tmp_path, i, shared, "watch", cfg) for i in range(3)]

    def mails() -> list[str]:
        return [m["Message-ID"] for m in alert_peers.smtp.received.messages]

    def hooks() -> list[str]:
        return [p["key"] for p in alert_peers.webhook.posts]

    def all_recorded() -> bool:
        return not shared.query("SELECT 1 FROM alert_deliveries WHERE state != 'delivered'")

    try:
        wait_for(shared.first_sync_done, "the first sync", limit=60)
        dovecot.append([fresh_report(500 + i) for i in range(3)])
        wait_for(lambda: len(mails()) >= 3 and len(hooks()) >= 3, "3 alerts sent", limit=60)
        wait_for(all_recorded, "every delivery recorded")
        time.sleep(3)  # time for a second worker to send one again, if it would
        assert len(mails()) == len(set(mails())) == 3
        assert len(hooks()) == len(set(hooks())) == 3
        by_channel: dict[str, set[str]] = {}
        for channel, holder in shared.query("SELECT channel, delivered_by"
                                            " FROM alert_deliveries"):
            by_channel.setdefault(channel, set()).add(holder)
        assert len(by_channel) == 2 and all(len(h) == 1 for h in by_channel.values())
        # Kill the worker delivering the mail channel: another one takes its queue over.
        [holder] = by_channel[next(c for c in by_channel if c.startswith("mail"))]
        victim = next(w for w in workers if w.pid == int(holder.split(":")[-2]))
        os.kill(victim.pid, signal.SIGKILL)
        victim.proc.wait(10)
        dovecot.append([fresh_report(600 + i) for i in range(2)])
        wait_for(lambda: len(set(mails())) == 5 and len(set(hooks())) == 5,
                 "5 distinct alerts on each channel", limit=60)
        wait_for(all_recorded, "every delivery recorded")
        time.sleep(3)
    finally:
        codes = [w.stop() for w in workers if w.proc.poll() is None]
    assert codes == [0, 0]
    assert len(mails()) == 5 and len(hooks()) == 5  # none sent twice, not even at takeover
    mail_senders = {h for c, h in shared.query("SELECT channel, delivered_by FROM"
                                               " alert_deliveries") if c.startswith("mail")}
    assert len(mail_senders) == 2 and holder in mail_senders


async def test_a_sync_whose_folder_is_taken_over_stores_nothing_more_and_comes_back(
    dovecot: Dovecot, db_location, monkeypatch: pytest.MonkeyPatch,  # noqa: F811  # type: ignore[no-untyped-def]
) -> None:
    """A worker that stalled past its lease: its next commit is refused (nothing stored
    twice), and the one-shot sync waits for the new holder, then fetches what is left."""
    from tlsrpt_tui.service.config import AccountSettings
    from tlsrpt_tui.service.sync import SyncEvent, sync_all
    from tlsrpt_tui.store import leases

    n = 200
    dovecot.append_maildir(fresh_report(i) for i in range(n))
    monkeypatch.setenv(IMAP_ENV, dovecot.password)
    account = AccountSettings(name="reports", host=dovecot.host, port=dovecot.imaps_port,
                              username=dovecot.user, password_env=IMAP_ENV,
                              ca_file=str(dovecot.ca_file), batch_size=20)
    events: list[SyncEvent] = []
    with Store(db_location) as store, Store(db_location) as thief:

        def on_progress(event: SyncEvent) -> None:
            events.append(event)
            if event.kind == "batch" and sum(e.kind == "batch" for e in events) == 1:
                # another worker (elsewhere) takes the folder over for 2 s, then dies
                # (PostgreSQL: not while a commit of the holder holds the fence)
                deadline = time.monotonic() + 20
                while not leases.try_acquire(thief, "imap:reports/INBOX", "imap",
                                             "elsewhere.example:7:77", 2,
                                             now=time.time() + 120)[0]:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                thief.conn.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = 'imap:reports/INBOX'",
                    (time.time() + 2,))

        summary = await sync_all(store, [account], on_progress=on_progress)
        assert summary.ok
        assert any("lease lost to another worker" in e.message for e in events)
        assert int(store.conn.execute("SELECT count(*) FROM reports").fetchone()[0]) == n
        seen, new, duplicate = store.conn.execute(
            "SELECT messages_seen, messages_new, messages_duplicate FROM imap_folders"
        ).fetchone()
        assert (seen, new, duplicate) == (n, n, 0)
