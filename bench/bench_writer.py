"""Benchmark: CPU of the store's writer per ingested mail (the store half of ``import``).

Run from the repo root with the bench venv:

    bench/.venv/bin/python bench/bench_writer.py [--messages 10000] [--whole N] [--postgres]
        [--tree DIR ...]

It generates bench_import.py's report mails (or reads ``--mails DIR``), reads them with
``service.sources.iter_inputs`` and prepares them ONCE with ``prepare_all`` (parse, DKIM
verdict against an empty key set, SHA-256, zlib, report rows: the parser process's work),
then times only what the writer thread does for them, as ``import`` does it: ``with
store.transaction(): ingest_batch(store, raws, limits, prepared)`` per batch of 1,000 into a
fresh SQLite store on disk, its connection set as the pipeline sets the writer's. CPU
(``os.times()`` user + sys of the process), best of ``--rounds``; the figure is ms of CPU per
mail. No peer tool writes a store, so the figure is absolute; give several ``--tree``
(checkouts of other commits) for a before/after in one run, each timed in its own
interpreter with that tree's package. ``--statements`` adds one round per tree that sums
the CPU of each SQL statement (thread time; the rest is the Python around them). ``--whole N``
also runs the real ``import`` of the
same mails N times per tree and prints its main process's CPU (file reads, the writer
thread) apart from its parser processes'.

``--postgres`` writes into a private PostgreSQL cluster instead (started like the tests', set
like bench_workers.py's: fsync on, ``synchronous_commit = off``), a fresh database a round, and
prints beside the writer's CPU its server backend's (from ``/proc``, so run it as root on the
cluster's host) and the wall time a mail: the writer waits for its server, so the three
together say where a PostgreSQL batch's time goes.

Not part of the test suite's pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DB_ENV = "TLSRPT_BENCH_DB_PASSWORD"

#: What runs in the child interpreter (the tree's package on its path): argv = mails dir,
#: store dir, batch size, rounds, statements (1: one more round with each statement's CPU
#: summed by its first words, printed as "stmt<TAB>seconds<TAB>calls<TAB>sql" lines). Its
#: last line: "user sys mails package" of the best round.
CHILD = r"""
import collections, os, sys, time
from pathlib import Path
from tlsrpt_tui.core.model import RawInput
from tlsrpt_tui.core.parse import DEFAULT_LIMITS
from tlsrpt_tui.service.dkim import DkimKeys
from tlsrpt_tui.service import pipeline
from tlsrpt_tui.service.ingest import ingest_batch, prepare_all
from tlsrpt_tui.service.sources import iter_inputs
from tlsrpt_tui.store.database import Store

mails, work = Path(sys.argv[1]), Path(sys.argv[2])
batch, rounds = int(sys.argv[3]), int(sys.argv[4])
urls = sys.argv[6].split() if len(sys.argv) > 6 else []  # PostgreSQL: a fresh database a round
raws = [item for item in iter_inputs([mails]) if isinstance(item, RawInput)]
prepared = prepare_all(raws, DEFAULT_LIMITS, DkimKeys({}))


def backend_cpu(store):  # the PostgreSQL backend's CPU seconds so far (/proc), 0 for SQLite
    if store.dialect != "postgresql":
        return 0.0
    pid = store.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")




def open_store(n, name):
    if not urls:
        return Store(work / name)
    from tlsrpt_tui.store.location import parse_location
    return Store(parse_location(urls[n]).with_password(os.environ["TLSRPT_BENCH_DB_PASSWORD"]))


def as_writer(store):  # SQLite: the connection as the pipeline sets its writer's
    if store.dialect != "sqlite":
        return store
    if hasattr(pipeline, "tune_writer"):
        pipeline.tune_writer(store)
    elif hasattr(pipeline, "WRITER_CACHE_KIB"):  # a tree of before tune_writer
        store.set_cache_kib(pipeline.WRITER_CACHE_KIB)
    return store


best = None
for n in range(rounds):
    store = as_writer(open_store(n, f"round{n}.sqlite3"))
    server0 = backend_cpu(store)
    t0, w0 = os.times(), time.perf_counter()
    for i in range(0, len(raws), batch):
        with store.transaction():
            ingest_batch(store, raws[i:i + batch], DEFAULT_LIMITS, prepared[i:i + batch])
    server = backend_cpu(store) - server0
    store.close()  # the last checkpoint (WAL into the database file) is the writer's too
    t1, wall = os.times(), time.perf_counter() - w0
    user, system = t1.user - t0.user, t1.system - t0.system
    if best is None or user + system < best[0] + best[1]:
        best = (user, system, server, wall)
    for f in work.glob(f"round{n}.sqlite3*"):
        f.unlink()
if sys.argv[5] == "1":
    spent, calls = collections.Counter(), collections.Counter()

    class Timed:  # the connection, with each statement's thread CPU summed by its start

        def __init__(self, conn):
            self.conn = conn

        def __getattr__(self, name):
            return getattr(self.conn, name)

        def _timed(self, how, sql, *args):
            t = time.thread_time()
            try:
                return getattr(self.conn, how)(sql, *args)
            finally:
                key = ("many " if how == "executemany" else "") + " ".join(sql.split()[:4])
                spent[key] += time.thread_time() - t
                calls[key] += 1

        def execute(self, sql, *args):
            return self._timed("execute", sql, *args)

        def executemany(self, sql, *args):
            return self._timed("executemany", sql, *args)

    store = as_writer(open_store(-1, "statements.sqlite3"))
    store.conn = Timed(store.conn)
    t = time.thread_time()
    for i in range(0, len(raws), batch):
        with store.transaction():
            ingest_batch(store, raws[i:i + batch], DEFAULT_LIMITS, prepared[i:i + batch])
    total = time.thread_time() - t
    store.close()
    for key, sec in spent.most_common():
        print("stmt", sec, calls[key], key, sep="\t")
    print("stmt", total - sum(spent.values()), 0, "(Python around the statements)", sep="\t")
import tlsrpt_tui
print(*best, len(raws), tlsrpt_tui.__file__)
"""


#: ``tlsrpt-tui import DIR --db DB`` in the child, then its own CPU (the main process: file
#: reads, the writer thread) and its parser processes' (waited for: RUSAGE_CHILDREN).
WHOLE = r"""
import resource, sys
import tlsrpt_tui
from tlsrpt_tui.cli import main

rc = main(["import", sys.argv[1], "--db", sys.argv[2]])
me = resource.getrusage(resource.RUSAGE_SELF)
parsers = resource.getrusage(resource.RUSAGE_CHILDREN)
print(rc, me.ru_utime, me.ru_stime, parsers.ru_utime + parsers.ru_stime, me.ru_maxrss,
      tlsrpt_tui.__file__)
"""


def whole_import(tree: Path, mails: Path) -> tuple[float, float, float, int]:
    """(main user s, main sys s, parsers s, main peak RSS KiB) of one ``import`` of ``mails``
    into a fresh store with ``tree``'s package."""
    with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-writer-") as work:
        res = subprocess.run([sys.executable, "-c", WHOLE, str(mails), f"{work}/s.sqlite3"],
                             capture_output=True, text=True, cwd=tree,
                             env={**os.environ, "PYTHONPATH": str(tree)})
    rc, user, system, parsers, rss, package = res.stdout.split()[-6:]
    if res.returncode != 0 or rc != "0" or not Path(package).is_relative_to(tree.resolve()):
        sys.exit(f"{tree}: import failed ({rc}, {package}): {res.stderr[-2000:]}")
    return float(user), float(system), float(parsers), int(rss)


def time_tree(tree: Path, mails: Path, batch: int, rounds: int, statements: bool = False,
              urls: list[str] | None = None) -> tuple[float, float, float, float, int]:
    """(user s, sys s, server s, wall s, mails) of the best round with ``tree``'s package
    (server: the PostgreSQL backend's CPU, with ``urls``, a fresh database per round and one
    more for ``statements``); ``statements``: print each statement's share too."""
    with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-writer-") as work:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        # cwd: ``python -c`` puts the current directory first on sys.path, before PYTHONPATH
        res = subprocess.run([sys.executable, "-c", CHILD, str(mails), work, str(batch),
                              str(rounds), str(int(statements)), *([" ".join(urls)] if urls
                                                                   else [])],
                             capture_output=True, text=True, env=env, cwd=tree)
    if res.returncode != 0:
        sys.exit(f"{tree}: writer bench failed: {res.stderr[-2000:]}")
    *lines, last = res.stdout.splitlines()
    user, system, server, wall, n, package = last.split()
    for line in lines:
        _, sec, count, sql = line.split("\t")
        print(f"  {float(sec) / int(n) * 1e3:.4f} ms a mail  {int(count):6d} calls  {sql}")
    if not Path(package).is_relative_to(tree.resolve()):
        sys.exit(f"{tree}: the child imported {package}")
    return float(user), float(system), float(server), float(wall), int(n)


@contextlib.contextmanager
def postgres_databases(use: bool) -> Iterator[Callable[[int], list[str]]]:
    """``--postgres``: a private cluster set as bench_workers.py sets it (fsync on,
    ``synchronous_commit = off``) and a maker of N fresh databases' URLs (the password in the
    child's environment, ``DB_ENV``)."""
    if not use:
        yield lambda n: []
        return
    sys.path.insert(0, str(REPO / "tests"))
    from bench_workers import production_like
    from peers.postgres import start_postgres

    server = start_postgres()
    try:
        production_like(server)

        def make(n: int) -> list[str]:
            os.environ[DB_ENV] = server.password  # the children's, never their argv
            return [server.url(server.create_database(template=None)) for _ in range(n)]

        yield make
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(server.root)], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--mails", type=Path, help="a directory of mails (default: generate)")
    ap.add_argument("--batch", type=int, default=1000, help="inputs per transaction")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--statements", action="store_true",
                    help="one more round per tree, printing each statement's CPU a mail")
    ap.add_argument("--whole", type=int, default=0, metavar="N",
                    help="also run the whole import N times per tree (alternating) and print"
                         " its main process's CPU apart from its parser processes'")
    ap.add_argument("--postgres", action="store_true",
                    help="write into a private PostgreSQL cluster (fresh database a round) and"
                         " print its backend's CPU too")
    ap.add_argument("--tree", type=Path, action="append",
                    help="a checkout whose package is timed (repeatable; default this one)")
    args = ap.parse_args()
    trees = args.tree or [REPO]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from installed import compile_package

    for tree in trees:
        compile_package(tree)
    with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-mails-") as tmp, \
            postgres_databases(args.postgres) as databases:
        mails = args.mails
        if mails is None:
            import bench_import

            mails = Path(tmp) / "mails"
            bench_import.generate(mails, args.messages)
        print(f"load {os.getloadavg()[0]:.1f}; batch {args.batch}, best of {args.rounds}")
        for tree in trees:
            urls = databases(args.rounds + args.statements)
            user, system, server, wall, n = time_tree(tree, mails, args.batch, args.rounds,
                                                      args.statements, urls)
            print(f"{tree}: {n} mails, writer CPU {(user + system) / n * 1e3:.3f} ms a mail"
                  f" (user {user:.2f} s, sys {system:.2f} s)"
                  + (f", PostgreSQL backend CPU {server / n * 1e3:.3f} ms a mail, wall"
                     f" {wall / n * 1e3:.3f} ms a mail" if urls else ""))
        for _ in range(args.whole):
            for tree in trees:
                load = os.getloadavg()[0]
                user, system, parsers, rss = whole_import(tree, mails)
                print(f"{tree}: import, main process CPU {user + system:.2f} s (user {user:.2f},"
                      f" sys {system:.2f}), parser processes {parsers:.2f} s, main peak RSS"
                      f" {rss / 1024:.1f} MiB; load {load:.1f}")
        print(f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
