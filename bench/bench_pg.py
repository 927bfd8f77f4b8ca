"""Benchmark: the TUI on a PostgreSQL store against the same store in SQLite.

Run from the repo root: ``.venv/bin/python bench/bench_pg.py [--reports 1000000] [--runs 3]
[--db PATH]``.

In one run: a store of N reports is generated in SQLite (bench_tui.py's generator; ``--db``
keeps and reuses it), copied into a PostgreSQL database of a private cluster started here
(tests/peers/postgres.py: initdb + pg_ctl on loopback, TLS verified, SCRAM password) with
``tlsrpt-tui migrate``'s copy (its rows per second are printed too), ANALYZEd, and then
bench_tui.py's ``full`` child runs on each store, interleaved, a fresh process per run: the
first complete dashboard frame, the inbox filter keystrokes, and the Overview and Policy
Summary opened and paged.

Targets (issue 15): with 1,000,000 reports, the first frame on PostgreSQL <= 2x the same store
in SQLite; Overview PageDown <= 50 ms median on PostgreSQL. The cluster is tuned for tests
(fsync off): reads are what is measured, and they do not touch the disk once cached.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import bench_tui  # noqa: E402

#: bench_tui's paging keys: 10 PageDown first, then End/Home/End, 10 PageUp, 5 Up
PAGEDOWNS = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", metavar="PATH",
                        help="the SQLite store: filled with --reports on first use, then reused")
    args = parser.parse_args()

    from peers.postgres import start_postgres

    from tlsrpt_tui.store.copy import copy_store
    from tlsrpt_tui.store.database import Store

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        lite = Path(args.db) if args.db else Path(tmp) / "full.sqlite3"
        if not lite.exists():
            t = time.perf_counter()
            bench_tui.fill(lite, args.reports)
            print(f"filled {args.reports:,} reports into SQLite in {time.perf_counter() - t:.0f}s")
        with Store(lite) as store:
            args.reports = int(store.conn.execute("SELECT count(*) FROM reports").fetchone()[0])
        server = start_postgres()
        try:
            name = server.create_database()
            location = server.location(name)
            t = time.perf_counter()
            with Store(lite) as source, Store(location) as dest:
                result = copy_store(source, dest)
                dest.conn.execute("ANALYZE")
            took = time.perf_counter() - t
            rows = sum(result.copied.values())
            print(f"copied {rows:,} rows into PostgreSQL in {took:.0f}s ({rows / took:,.0f} rows/s"
                  f", ANALYZE included)")
            os.environ["PGPASSWORD"] = server.password  # the children's: libpq reads it
            url = location.url
            results: dict[str, list[dict]] = {"sqlite": [], "postgresql": []}
            for _ in range(args.runs):  # interleaved: load changes hit both alike
                results["sqlite"].append(bench_tui.spawn("full", str(lite)))
                results["postgresql"].append(bench_tui.spawn("full", url))
        finally:
            server.stop()
            import shutil

            shutil.rmtree(server.root, ignore_errors=True)

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    print(f"\nmedians of {args.runs} runs each (fresh process per run), 80x24 headless, "
          f"{args.reports:,} reports; load average {os.getloadavg()[0]:.1f}:")
    print(f"{'':14}{'first frame':>12}{'peak RSS':>10}{'filter key':>12}{'Overview open':>15}"
          f"{'PgDn':>8}{'Policy PgDn':>13}")
    for kind in ("sqlite", "postgresql"):
        filt = statistics.median(ms for r in results[kind] for ms in r["filter_ms"])
        pgdn = statistics.median(ms for r in results[kind]
                                 for ms in r["overview_key_ms"][:PAGEDOWNS])
        ppgdn = statistics.median(ms for r in results[kind]
                                  for ms in r["policies_key_ms"][:PAGEDOWNS])
        print(f"{kind:14}{med(kind, 'first_frame_s') * 1000:>10.0f}ms"
              f"{med(kind, 'peak_rss_mib'):>7.0f}MiB{filt:>10.1f}ms"
              f"{med(kind, 'overview_open_ms'):>13.0f}ms{pgdn:>6.1f}ms{ppgdn:>11.1f}ms")
    ratio = med("postgresql", "first_frame_s") / med("sqlite", "first_frame_s")
    pgdn = statistics.median(ms for r in results["postgresql"]
                             for ms in r["overview_key_ms"][:PAGEDOWNS])
    print(f"\nfirst frame PostgreSQL/SQLite: {ratio:.2f}x (target <= 2x)")
    print(f"Overview PageDown on PostgreSQL: median {pgdn:.1f} ms (target <= 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
