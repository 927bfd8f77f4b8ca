"""Benchmark: the store queries the TUI and CLI run, on a store of 100,000 reports.

    .venv/bin/python bench/bench_store.py [--reports 100000] [--db PATH]

Builds (or reuses, with --db) a store of N synthetic reports through the store functions
(50 domains, 4 senders, 600 days, ~25% with a failure detail), ANALYZEs it, then prints the
median of 7 runs of each query. The inbox must page and filter within 100 ms at 100,000
reports (the TUI's target); no peer tool does this, so the figures are absolute.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tlsrpt_tui.core.model import (  # noqa: E402
    FailureDetail,
    InputStatus,
    Origin,
    Policy,
    PolicyType,
    Report,
)
from tlsrpt_tui.service import queries as q  # noqa: E402
from tlsrpt_tui.store import reports as db  # noqa: E402
from tlsrpt_tui.store.database import Store  # noqa: E402

ORGS = ("Google Inc.", "Microsoft Corporation", "Mail.ru", "mx.selfhosted.example")


def fill(store: Store, n: int, *, domains: list[str] | None = None,
         orgs: tuple[str, ...] = ORGS, base: datetime | None = None) -> None:
    """n generated reports over 600 days from ``base`` (bench_tui.py fills its store with it)."""
    rnd = random.Random(8460)
    domains = domains or [f"d{i}.example" for i in range(50)]
    base = base or datetime(2025, 1, 1, tzinfo=UTC)
    with store.transaction():
        pk, _ = db.store_raw_input(
            store, source="bench", data=b"bench", origin=Origin("file", "bench"),
            status=InputStatus.REPORT, error=None, parser_version="bench",
        )
        for i in range(n):
            d = rnd.choice(domains)
            start = base + timedelta(days=rnd.randrange(600))
            fails = rnd.choice((0, 0, 0, 3))
            details = (FailureDetail("certificate-expired", fails, "192.0.2.1", f"mx.{d}"),)
            policy = Policy(
                PolicyType.STS, "sts", d,
                ("version: STSv1", "mode: enforce", f"mx: mx.{d}", "max_age: 86400"),
                (f"mx.{d}",), rnd.randrange(1000), fails, details if fails else (),
            )
            rep = Report(rnd.choice(orgs), "c@x.example", f"id{i}", start,
                         start + timedelta(days=1), (policy,))
            db.insert_report(store, rep, pk)
    store.conn.execute("ANALYZE")


def timed(label: str, fn: Callable[[], object], runs: int = 7) -> None:
    times = []
    result: object = None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    size = len(result) if hasattr(result, "__len__") else result  # type: ignore[arg-type]
    print(f"{label:<44} {statistics.median(times) * 1e3:8.2f} ms   ({size})")


def export_rss(path: Path, n: int) -> None:
    """``tlsrpt-tui overview --format csv`` of the whole store to /dev/null, as a child: its
    wall time and peak RSS (the rows are streamed, never held)."""
    import os
    import subprocess

    t = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "tlsrpt_tui", "overview", "--db",
                                 str(path), "--format", "csv"], stdout=sink, cwd=REPO)
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    rc = os.waitstatus_to_exitcode(status)
    print(f"{'overview --format csv, all ' + format(n, ',') + ' rows (CLI)':<44} "
          f"{wall * 1e3:8.0f} ms   peak RSS {usage.ru_maxrss / 1024:.1f} MiB (exit {rc})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--db", help="reuse/keep this store (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-") as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "store.sqlite3"
        existed = path.exists()
        store = Store(path)
        if not existed or db.counts(store)["reports"] == 0:
            t = time.perf_counter()
            fill(store, args.reports)
            print(f"filled {args.reports} reports in {time.perf_counter() - t:.1f}s")
        n = db.counts(store)["reports"]
        print(f"{n} reports, store {path.stat().st_size / 1e6:.1f} MB\n")
        today = date(2026, 8, 1)
        timed("inbox_page first page (50)", lambda: q.inbox_page(store, offset=0, limit=50))
        timed("inbox_page at offset n/2", lambda: q.inbox_page(store, offset=n // 2, limit=50))
        mid = q.inbox_page(store, offset=n // 2, limit=1)[0]
        timed("inbox_page after row n/2 (keyset, as the TUI)",
              lambda: q.inbox_page(store, limit=50, after=(mid.start, mid.pk)))
        timed("inbox_count", lambda: q.inbox_count(store))
        timed("inbox_page filter 'd7.' (2% match)",
              lambda: q.inbox_page(store, limit=50, text_filter="d7."))
        timed("inbox_page filter 'microsoft' (25% match)",
              lambda: q.inbox_page(store, limit=50, text_filter="microsoft"))
        timed("inbox_page filter rare 'id99999'",
              lambda: q.inbox_page(store, limit=50, text_filter="id99999"))
        timed("inbox_page filter no match", lambda: q.inbox_page(store, text_filter="zzzz"))
        timed("inbox_count filter 'd7.'", lambda: q.inbox_count(store, "d7."))
        timed("daily_totals 30 days, all", lambda: q.daily_totals(store, None, 30, today))
        timed("daily_totals 30 days, one domain",
              lambda: q.daily_totals(store, "d7.example", 30, today))
        timed("domain_totals", lambda: q.domain_totals(store))
        timed("report_detail", lambda: q.report_detail(store, n // 2))
        timed("policy_rows one domain (all rows)",
              lambda: list(q.policy_rows(store, q.TableFilter("d7.example"))), runs=3)
        timed("overview_rows everything (all rows)", lambda: list(q.overview_rows(store)),
              runs=3)
        timed("overview_keys first 2,000 (a table's first rows)",
              lambda: list(itertools.islice(q.overview_keys(store), 2000)))
        timed("policy_keys first 2,000", lambda: list(itertools.islice(q.policy_keys(store), 2000)))
        timed("busiest domains of the last 30 days",
              lambda: q.busiest_domains(store, 5, today - timedelta(days=29)))
        store.close()
        export_rss(path, n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
