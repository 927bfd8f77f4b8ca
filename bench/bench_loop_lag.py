"""Benchmark: how long the TUI's event loop is held up while its watch syncs a folder.

Run from the repo root, as root (it starts a private Dovecot like the tests do):

    .venv/bin/python bench/bench_loop_lag.py [--messages 2000] [--nice N]

It loads N report mails into the Dovecot INBOX and runs the app headless (Pilot, 120x40) on a
fresh store, its IMAP watch syncing them; meanwhile a task on the app's loop sleeps 10 ms at a
time and records how much later than asked it woke up (the loop's lag: what a key would have
waited), until every report is stored. It prints the sync's time, the CPU the app's process
used meanwhile (the sync process's own is not in it), the lag's p50 / p90 / p99 / max, and
the load. ``--nice`` changes how much nicer than the app its sync process runs. Whatever
``tlsrpt_tui`` the interpreter imports is measured: run an older checkout's interpreter for a
before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from peers.dovecot import start_dovecot  # noqa: E402
from peers.tlsrpt_mail import google_report, microsoft_report  # noqa: E402

PASSWORD_ENV = "TLSRPT_BENCH_IMAP_PASSWORD"


def stored(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM reports").fetchone()[0])


async def measure(n: int, nice: int | None) -> None:
    from tlsrpt_tui.service import backend as backend_module
    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.service.config import AccountSettings, Config
    from tlsrpt_tui.store.database import Store
    from tlsrpt_tui.ui.app import TlsrptApp

    if nice is not None:
        backend_module.SYNC_NICENESS = nice
    dc = start_dovecot()
    try:
        dc.reset()
        dc.append_maildir((google_report(i) if i % 2 else microsoft_report(i))
                          for i in range(n))
        os.environ[PASSWORD_ENV] = dc.password
        account = AccountSettings(name="bench", host=dc.host, port=dc.imaps_port,
                                  username=dc.user, password_env=PASSWORD_ENV,
                                  ca_file=str(dc.ca_file))
        with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-lag-") as tmp:
            db = Path(tmp) / "store.sqlite3"
            load = os.getloadavg()[0]
            with Store(db) as store:
                backend = StoreBackend(store)
                app = TlsrptApp(backend, Config(accounts=(account,)), live=True)
                lags: list[float] = []
                try:
                    async with app.run_test(size=(120, 40)):
                        started, cpu = time.monotonic(), time.process_time()
                        while time.monotonic() - started < 600:
                            t = time.perf_counter()
                            await asyncio.sleep(0.01)
                            lags.append((time.perf_counter() - t - 0.01) * 1000)
                            if len(lags) % 50 == 0 and stored(db) >= n:
                                break
                        took = time.monotonic() - started
                        cpu = time.process_time() - cpu
                finally:
                    backend.close()
    finally:
        dc.stop()
    lags.sort()

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(len(lags) * p))]

    print(f"{n:,} mails synced in {took:.1f} s; the app's process used {cpu:.1f} s of CPU; "
          f"loop lag p50 {pct(0.5):.0f} ms, p90 {pct(0.9):.0f} ms, p99 {pct(0.99):.0f} ms, "
          f"max {lags[-1]:.0f} ms; load {load:.1f} -> {os.getloadavg()[0]:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2_000)
    ap.add_argument("--nice", type=int, default=None,
                    help="the sync process's niceness (default: the app's own setting)")
    args = ap.parse_args()
    asyncio.run(measure(args.messages, args.nice))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
