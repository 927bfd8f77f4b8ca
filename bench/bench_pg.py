"""Benchmark: the TUI on a PostgreSQL store against the same store in SQLite.

Run from the repo root: ``.venv/bin/python bench/bench_pg.py [--reports 1000000] [--runs 3]
[--db PATH]``.

In one run: a store of N reports is generated in SQLite (bench_tui.py's generator; ``--db``
keeps and reuses it), copied into a PostgreSQL database of a private cluster started here
(tests/peers/postgres.py: initdb + pg_ctl on loopback, TLS verified, SCRAM password) with
``tlsrpt-tui migrate``'s copy (its rows per second are printed too), ANALYZEd, and then a
child process per run opens the TUI on each store, interleaved: the time to the first complete
dashboard frame (as bench_tui.py measures it: from the child's first line until the inbox
holds its first page and the screen is repainted, headless 80x24), then the Overview opened
with ``o`` (until its Total is known) and ten PageDown keys, each timed from the key to the
repainted table.

Targets (issue 15): with 1,000,000 reports, the first frame on PostgreSQL <= 2x the same store
in SQLite; Overview PageDown <= 50 ms median on PostgreSQL. The cluster is tuned for tests
(fsync off): reads are what is measured, and they do not touch the disk once cached.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

PAGEDOWNS = 10


def child(db: str) -> dict:
    """One TUI run on ``db``: first frame, then the Overview and PageDown (see the docstring)."""
    from bench_tui import DOMAINS, NOW, painted, press_timed

    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.service.config import CheckSettings, Config
    from tlsrpt_tui.store.database import Store
    from tlsrpt_tui.ui.app import TlsrptApp
    from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
    from tlsrpt_tui.ui.screens.tables import OverviewScreen
    from tlsrpt_tui.ui.widgets.inbox import MIN_PAGE, PAGE, InboxTable
    from tlsrpt_tui.ui.widgets.paged import PagedTable

    store = Store(db)
    expected_rows = max(MIN_PAGE, min(PAGE, 24))  # the inbox's page at 80x24 (N is large)
    app = TlsrptApp(StoreBackend(store), Config(domains=DOMAINS, checks=CheckSettings()),
                    clock=lambda: NOW, live=False)
    out: dict = {}

    async def run() -> None:
        task = asyncio.create_task(app.run_async(headless=True, size=(80, 24)))

        def ready() -> bool:
            screen = app.screen if app.is_running and app._screen_stack else None
            if not isinstance(screen, DashboardScreen) or not screen.query(InboxTable):
                return False
            table = screen.query_one(InboxTable)
            return bool(table.columns) and table.row_count >= expected_rows

        while not ready():
            if task.done():
                task.result()
            await asyncio.sleep(0.001)
        await painted(app)
        out["first_frame_s"] = time.perf_counter() - T0

        def loaded() -> bool:
            screen = app.screen
            return isinstance(screen, OverviewScreen) and screen.is_mounted \
                and not screen.busy and bool(screen.query(PagedTable)) \
                and screen.query_one(PagedTable).footer is not None

        wall, _cpu = await press_timed(app, "o", loaded)
        out["overview_open_ms"] = wall * 1000
        table = app.screen.query_one(PagedTable)
        keys = []
        for _ in range(PAGEDOWNS):
            before = (table.position, table.builds)
            wall, _cpu = await press_timed(app, "pagedown", lambda b=before, t=table: (
                t.position, t.builds) != b and t.settled)
            keys.append(wall * 1000)
        out["pagedown_ms"] = keys
        app.exit()
        await task

    asyncio.run(run())
    store.close()
    return out


def spawn(db: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", db], capture_output=True,
                          text=True, check=False, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"child on {db} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", metavar="PATH",
                        help="the SQLite store: filled with --reports on first use, then reused")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0

    import bench_tui
    from peers.postgres import start_postgres

    from tlsrpt_tui.store.copy import copy_store
    from tlsrpt_tui.store.database import Store

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        lite = Path(args.db) if args.db else Path(tmp) / "full.sqlite3"
        if not lite.exists():
            t = time.perf_counter()
            bench_tui.fill(lite, args.reports)
            print(f"filled {args.reports:,} reports into SQLite in {time.perf_counter() - t:.0f}s",
                  flush=True)
        with Store(lite) as store:
            args.reports = int(store.conn.execute("SELECT count(*) FROM reports").fetchone()[0])
        server = start_postgres()
        try:
            location = server.location(server.create_database())
            t = time.perf_counter()
            with Store(lite) as source, Store(location) as dest:
                result = copy_store(source, dest)
                dest.conn.execute("ANALYZE")
            took = time.perf_counter() - t
            rows = sum(result.copied.values())
            print(f"copied {rows:,} rows into PostgreSQL in {took:.0f}s ({rows / took:,.0f} rows/s"
                  f", ANALYZE included)", flush=True)
            os.environ["PGPASSWORD"] = server.password  # the children's: libpq reads it
            results: dict[str, list[dict]] = {"sqlite": [], "postgresql": []}
            for _ in range(args.runs):  # interleaved: load changes hit both alike
                results["sqlite"].append(spawn(str(lite)))
                results["postgresql"].append(spawn(location.url))
        finally:
            server.stop()
            import shutil

            shutil.rmtree(server.root, ignore_errors=True)

    def frame(kind: str) -> float:
        return statistics.median(r["first_frame_s"] for r in results[kind]) * 1000

    def pgdn(kind: str) -> float:
        return statistics.median(ms for r in results[kind] for ms in r["pagedown_ms"])

    print(f"\nmedians of {args.runs} runs each (fresh process per run), 80x24 headless, "
          f"{args.reports:,} reports; load average {os.getloadavg()[0]:.1f}:")
    print(f"{'':14}{'first frame':>12}{'Overview open':>15}{'PageDown':>10}")
    for kind in ("sqlite", "postgresql"):
        opened = statistics.median(r["overview_open_ms"] for r in results[kind])
        print(f"{kind:14}{frame(kind):>10.0f}ms{opened:>13.0f}ms{pgdn(kind):>8.1f}ms")
    print(f"\nfirst frame PostgreSQL/SQLite: {frame('postgresql') / frame('sqlite'):.2f}x"
          " (target <= 2x)")
    print(f"Overview PageDown on PostgreSQL: median {pgdn('postgresql'):.1f} ms (target <= 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
