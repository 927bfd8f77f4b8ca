"""Benchmark: the TUI's first dashboard frame and inbox filter with 100,000 reports.

Run from the repo root: ``.venv/bin/python bench/bench_tui.py [--reports 100000] [--runs 5]``.

In one run, each measurement in a fresh child process (so peak memory is that run's own):

1. ``empty``: the app on an empty store (3 configured domains);
2. ``full``: the app on a store holding N reports (filled through the store functions;
   3 configured domains among 50, 4 senders, 600 days, a quarter with failures);
3. ``bare``: the peer — a bare Textual app showing one DataTable with 200 rows x 6 columns.

Time to the first complete dashboard frame = from the child's first line (before importing
Textual) until the dashboard is mounted, the inbox holds its first page, the status cards and
charts are composed, and a refresh has been processed (Pilot, headless, 80x24). Peak memory is
the child's ru_maxrss. Then, in the ``full`` child, the inbox filter: each keystroke typed into
the filter box, timed from the key press until the table shows the filtered rows (median).

Targets (issue 5): full <= 1.5x empty and <= 3x bare; peak memory full <= 1.5x empty; filter
median <= 100 ms. Not part of the test suite's pass/fail.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DOMAINS = ("example.com", "example.net", "example.org")
ORGS = ("Google Inc.", "Microsoft Corporation", "Mail.ru", "mx.relay.example")
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
#: What the filter benchmark types, one keystroke at a time (each is one filter).
FILTER_KEYS = "microsoft"


def fill(path: Path, n: int) -> None:
    from tlsrpt_tui.core.model import (
        FailureDetail,
        InputStatus,
        Origin,
        Policy,
        PolicyType,
        Report,
    )
    from tlsrpt_tui.store import reports as db
    from tlsrpt_tui.store.database import Store

    rnd = random.Random(8460)
    domains = list(DOMAINS) + [f"d{i}.example" for i in range(47)]
    base = NOW - timedelta(days=600)
    store = Store(path)
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
            rep = Report(rnd.choice(ORGS), "c@x.example", f"id{i}", start,
                         start + timedelta(days=1), (policy,))
            db.insert_report(store, rep, pk)
    store.conn.execute("ANALYZE")
    store.close()


# -- children ------------------------------------------------------------------------------


def child_app(db: str, filter_runs: bool) -> dict:
    from textual import events

    from tlsrpt_tui.service.config import CheckSettings, Config
    from tlsrpt_tui.store.database import Store
    from tlsrpt_tui.ui.app import TlsrptApp
    from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
    from tlsrpt_tui.ui.widgets.inbox import InboxTable

    store = Store(db)
    config = Config(domains=DOMAINS, checks=CheckSettings())
    app = TlsrptApp(store, config, clock=lambda: NOW, live=False)
    out: dict = {}

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            while not (isinstance(app.screen, DashboardScreen)
                       and app.screen.query(InboxTable)
                       and app.screen.query_one(InboxTable).columns):
                await pilot.pause()
            await pilot.pause()
            out["first_frame_s"] = time.perf_counter() - T0
            table = app.screen.query_one(InboxTable)
            out["rows_loaded"] = table.row_count
            if not filter_runs:
                return
            await pilot.press("slash")
            await pilot.pause()
            times = []
            typed = ""
            for ch in FILTER_KEYS:
                typed += ch
                await pilot.pause()  # settle between keystrokes, like a typist
                # the keystroke enters the app as the terminal driver delivers it (as Pilot
                # does), then we wait until the inbox holds the filtered rows and the screen
                # has been repainted with them
                t = time.perf_counter()
                app._driver.send_message(events.Key(ch, ch))
                while table.text_filter != typed:
                    await asyncio.sleep(0.0005)
                painted = asyncio.Event()
                app.call_after_refresh(painted.set)
                await painted.wait()
                times.append(time.perf_counter() - t)
                rows = [table.get_row_at(i)[3].plain.casefold() for i in range(table.row_count)]
                assert all(r.startswith("microsoft") for r in rows if typed == "microsoft"), rows
            out["filter_ms"] = [round(x * 1000, 2) for x in times]
            out["filter_rows"] = table.row_count

    asyncio.run(run())
    store.close()
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def child_bare() -> dict:
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class Bare(App):
        def compose(self) -> ComposeResult:
            yield DataTable()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            for name in ("Date", "Failed", "OK", "Organization", "Domain", "Types"):
                table.add_column(name)
            for i in range(200):
                table.add_row(Text("2026-05-31"), Text(str(i % 4)), Text(str(i)),
                              Text("Google Inc."), Text("example.com"), Text("STS"))

    app = Bare()
    out: dict = {}

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            while not app.query(DataTable) or app.query_one(DataTable).row_count < 200:
                await pilot.pause()
            await pilot.pause()
            out["first_frame_s"] = time.perf_counter() - T0

    asyncio.run(run())
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def spawn(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind = args.child[0]
        if kind == "bare":
            result = child_bare()
        else:
            result = child_app(args.child[1], filter_runs=kind == "full")
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        empty = Path(tmp) / "empty.sqlite3"
        full = Path(tmp) / "full.sqlite3"
        fill(empty, 0)
        t = time.perf_counter()
        fill(full, args.reports)
        print(f"filled {args.reports:,} reports in {time.perf_counter() - t:.1f}s "
              f"({full.stat().st_size / 2**20:.1f} MiB)")
        results: dict[str, list[dict]] = {"bare": [], "empty": [], "full": []}
        for _ in range(args.runs):  # interleaved, so load changes hit all three alike
            results["bare"].append(spawn("bare"))
            results["empty"].append(spawn("empty", str(empty)))
            results["full"].append(spawn("full", str(full)))

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    frame = {k: med(k, "first_frame_s") for k in results}
    rss = {k: med(k, "peak_rss_mib") for k in results}
    filters = [ms for r in results["full"] for ms in r["filter_ms"]]
    print(f"\nmedians of {args.runs} runs each (fresh process per run), 80x24 headless:")
    print(f"{'':28}{'first frame':>12}{'peak RSS':>12}")
    for k, label in (("bare", "bare Textual + DataTable"), ("empty", "tlsrpt-tui, empty store"),
                     ("full", f"tlsrpt-tui, {args.reports:,} reports")):
        print(f"{label:28}{frame[k] * 1000:>10.0f}ms{rss[k]:>9.1f}MiB")
    print(f"\nfirst frame full/empty: {frame['full'] / frame['empty']:.2f}x (target <= 1.5x)")
    print(f"first frame full/bare:  {frame['full'] / frame['bare']:.2f}x (target <= 3x)")
    print(f"peak RSS full/empty:    {rss['full'] / rss['empty']:.2f}x (target <= 1.5x)")
    print(f"inbox rows loaded at first frame: {results['full'][0]['rows_loaded']} "
          f"(of {args.reports:,})")
    print(f"inbox filter, {len(filters)} keystrokes: median {statistics.median(filters):.1f} ms, "
          f"max {max(filters):.1f} ms (target median <= 100 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
