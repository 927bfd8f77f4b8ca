"""Benchmark: several `sync` workers sharing one PostgreSQL store, beside one worker, beside SQLite.

Run from the repo root, as root (it starts a private Dovecot and a private PostgreSQL cluster
like the tests do), with the project's venv:

    .venv/bin/python bench/bench_workers.py [--messages 10000] [--accounts 4] [--workers 4]

It creates ``--accounts`` IMAP users on one Dovecot, loads ``--messages`` generated TLS-RPT
report mails into each INBOX (tests/peers/tlsrpt_mail), lets Dovecot index them, then times,
as child processes, on a fresh store each:

1. ONE ``tlsrpt-tui sync`` of every account into SQLite (the embedded default);
2. ONE ``tlsrpt-tui sync`` of every account into PostgreSQL;
3. ``--workers`` ``tlsrpt-tui sync`` processes started together, each configured with every
   account, into one PostgreSQL database: the folder leases spread the accounts over them
   (each takes a folder nobody holds, waits for the busy ones, and finds them done).

Targets (issue 15): 3 is >= 1.6x the throughput of 2; 2 is no worse than 1.3x slower than 1.
Every run must store exactly accounts x messages reports, each once (the folders' running
totals count every committed message). The PostgreSQL cluster runs with fsync on and
``synchronous_commit = off`` (commits reach the disk within a fraction of a second, not each
on its own), the counterpart of the SQLite store's WAL with ``synchronous = NORMAL``. Not part
of the test suite's pass/fail.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from peers.dovecot import Dovecot, start_dovecot  # noqa: E402
from peers.postgres import PostgresServer, start_postgres  # noqa: E402
from peers.tlsrpt_mail import google_report, microsoft_report  # noqa: E402

from tlsrpt_tui.service.config import AccountSettings  # noqa: E402
from tlsrpt_tui.store.database import Store  # noqa: E402

#: messages per FETCH and commit: the account default unless --batch says otherwise
DEFAULT_BATCH = AccountSettings.__dataclass_fields__["batch_size"].default  # a slots class

IMAP_ENV = "TLSRPT_BENCH_IMAP_PASSWORD"
DB_ENV = "TLSRPT_BENCH_DB_PASSWORD"


def users(dc: Dovecot, accounts: int) -> list[Dovecot]:
    """``accounts`` IMAP users (the peer's own first), each with an empty INBOX."""
    out = [replace(dc, user=f"bench{i}@example.test") for i in range(accounts)]
    with (dc.root / "passwd").open("a") as passwd:
        for u in out:
            passwd.write(f"{u.user}:{{PLAIN}}{u.password}::::::\n")
    return out


def load(mailboxes: list[Dovecot], n: int) -> None:
    for a, mb in enumerate(mailboxes):
        mb.reset()
        mb.append_maildir(
            (google_report(a * 1_000_000 + i) if i % 2
             else microsoft_report(a * 1_000_000 + i, failures=i % 7 == 0))
            for i in range(n)
        )
        assert len(mb.uids()) == n  # Dovecot indexes each Maildir once, before any run


def config(work: Path, mailboxes: list[Dovecot], postgres: bool,
           batch: int = DEFAULT_BATCH) -> Path:
    text = f'[store]\npassword_env = "{DB_ENV}"\n\n' if postgres else ""
    for a, mb in enumerate(mailboxes):
        text += (
            f'[[accounts]]\nname = "account{a}"\nhost = "{mb.host}"\nport = {mb.imaps_port}\n'
            f'security = "tls"\nusername = "{mb.user}"\npassword_env = "{IMAP_ENV}"\n'
            f'ca_file = "{mb.ca_file}"\nfolders = ["INBOX"]\nbatch_size = {batch}\n\n'
        )
    cfg = work / ("pg.toml" if postgres else "sqlite.toml")
    cfg.write_text(text)
    return cfg


class WaitSampler:
    """What the workers' backends are doing, sampled from ``pg_stat_activity`` every 0.1 s
    while they run (``--waits``): a lock wait that dominates names the next point where the
    workers serialise."""

    def __init__(self, server: PostgresServer, dbname: str) -> None:
        self.server, self.dbname = server, dbname
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.server.admin() as conn:
            while not self._stop.wait(0.1):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, left(query, 60)"
                    " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                    " AND application_name = 'tlsrpt-tui' AND backend_type = 'client backend'",
                    (self.dbname,)).fetchall()
                self.samples += 1
                for state, wtype, wevent, query in rows:
                    if state == "idle":
                        key = "idle (the worker is busy in Python or on IMAP)"
                    elif wtype is None:
                        key = f"running: {query}"
                    else:
                        key = f"{state} {wtype}/{wevent}: {query}"
                    self.counts[" ".join(key.split())] += 1

    def report(self) -> None:
        self._stop.set()
        self._thread.join()
        print(f"  backends' states over {self.samples} samples (0.1 s apart):")
        for key, n in self.counts.most_common(12):
            print(f"  {n / max(self.samples, 1):6.2f}  {key}")


def server_cpu(server: PostgresServer) -> float:
    """CPU seconds the PostgreSQL server has used so far: the postmaster's, its ended
    children's (the backends of closed connections) and its running children's (from /proc:
    the bench runs as root on the cluster's host)."""
    tick = os.sysconf("SC_CLK_TCK")
    master = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        pid = int(stat.parent.name)
        if pid == master:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == master:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def run(label: str, db: str, location: object, cfg: Path, workers: int, env: dict[str, str],
        expected: int, sampler: WaitSampler | None = None,
        server: PostgresServer | None = None) -> float:
    """Start ``workers`` syncs together; wall seconds until the last one ends. ``server``:
    print its CPU during the run too."""
    argv = [sys.executable, "-m", "tlsrpt_tui", "sync", "--config", str(cfg), "--db", db]
    server_before = server_cpu(server) if server is not None else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(argv, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(workers)]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    served = server_cpu(server) - server_before if server is not None else None
    if sampler is not None:
        sampler.report()
    for p, err in zip(procs, errors, strict=True):
        if p.returncode != 0:
            sys.exit(f"{label}: a sync failed ({p.returncode}): "
                     f"{err.decode(errors='replace')[-1500:]}")
    with Store(location) as store:  # type: ignore[arg-type]
        reports = store.conn.execute("SELECT count(*) FROM reports").fetchone()[0]
        seen, dup = store.conn.execute(
            "SELECT sum(messages_seen), sum(messages_duplicate) FROM imap_folders").fetchone()
    ok = reports == expected and seen == expected and dup == 0
    print(f"{label:<34} {wall:7.1f} s  {expected / wall:8.0f} mails/s  reports {reports}"
          f"  fetched into the store {seen} {'ok' if ok else 'WRONG'}\n{'':34} the syncs'"
          f" own CPU (parsers included; not the servers'): {cpu:.1f} s = {cpu / wall:.2f}"
          f" of the {os.cpu_count()} CPUs"
          + (f"\n{'':34} PostgreSQL's CPU (all its processes): {served:.1f} s" if served is not None
             else ""), flush=True)
    if not ok:
        sys.exit(f"{label}: expected {expected} reports, each once")
    return wall


def production_like(server: PostgresServer) -> None:
    """The test cluster runs without fsync; the bench's writes reach the disk."""
    with server.admin() as conn:
        for setting in ("fsync = on", "full_page_writes = on", "synchronous_commit = off"):
            conn.execute(f"ALTER SYSTEM SET {setting}")
        conn.execute("SELECT pg_reload_conf()")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000, help="mails per account")
    ap.add_argument("--accounts", type=int, default=4)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                    help=f"messages per committed batch (default {DEFAULT_BATCH}, the account "
                         "default)")
    ap.add_argument("--tree", type=Path, default=REPO,
                    help="the checkout whose package is timed (default this one)")
    ap.add_argument("--waits", action="store_true",
                    help="sample the PostgreSQL backends' wait events during the runs")
    args = ap.parse_args()
    expected = args.messages * args.accounts
    work = Path(tempfile.mkdtemp(prefix="tlsrpt-bench-workers-"))
    dc = start_dovecot()
    server = start_postgres()
    try:
        production_like(server)
        mailboxes = users(dc, args.accounts)
        t0 = time.perf_counter()
        load(mailboxes, args.messages)
        print(f"{args.accounts} accounts x {args.messages} mails loaded and indexed in "
              f"{time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.1f}, "
              f"{os.cpu_count()} CPUs", flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
        env.update({IMAP_ENV: dc.password, DB_ENV: server.password, "PYTHONPATH": str(args.tree)})
        sqlite_db = work / "one.sqlite3"
        sqlite_wall = run("1 worker, SQLite", str(sqlite_db), sqlite_db,
                          config(work, mailboxes, False, args.batch), 1, env, expected)
        pg_cfg = config(work, mailboxes, True, args.batch)
        one = server.create_database(template=None)
        pg_wall = run("1 worker, PostgreSQL", server.url(one), server.location(one), pg_cfg,
                      1, env, expected, WaitSampler(server, one) if args.waits else None,
                      server)
        many = server.create_database(template=None)
        many_wall = run(f"{args.workers} workers, one PostgreSQL", server.url(many),
                        server.location(many), pg_cfg, args.workers, env, expected,
                        WaitSampler(server, many) if args.waits else None, server)
        speedup = pg_wall / many_wall
        slower = pg_wall / sqlite_wall
        print(f"\n{args.workers} workers vs 1 on PostgreSQL: {speedup:.2f}x the throughput "
              f"(target >= 1.6x) {'PASS' if speedup >= 1.6 else 'MISS'}")
        print(f"PostgreSQL vs SQLite, 1 worker: {slower:.2f}x the time (target <= 1.3x) "
              f"{'PASS' if slower <= 1.3 else 'MISS'}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        dc.stop()
        server.stop()
        subprocess.run(["rm", "-rf", str(work), str(dc.root), str(server.root)], check=False)


if __name__ == "__main__":
    main()
