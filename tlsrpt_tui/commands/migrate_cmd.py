"""``tlsrpt-tui migrate --from PATH|URL --to PATH|URL``: copy a store to another backend.

Moves a single admin's SQLite store into a shared PostgreSQL database (or back): raw inputs,
reports, IMAP positions, check results, alerts and their delivery state, every id kept.
Resumable: run the same command again after an interruption. Exit 0 when the copy is complete
and every table's row count matches, 1 when counts differ, 2 when a store cannot be used.
"""

from __future__ import annotations

import argparse
import sys
import time

HELP = "copy a store to another backend (SQLite <-> PostgreSQL), resumable, counts verified"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="PATH|URL",
                        help="the store to copy (an SQLite file or a postgresql:// URL)")
    parser.add_argument("--to", dest="dest", required=True, metavar="PATH|URL",
                        help="an empty store, or one this copy began earlier (created if new)")


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.service.store_location import resolve_from_args
    from tlsrpt_tui.store.copy import CopyError, CopyProgress, copy_store
    from tlsrpt_tui.store.database import Store, StoreError

    prog = "tlsrpt-tui migrate"
    config = getattr(args, "config", None)
    try:
        source_at = resolve_from_args(args.source, config)
        dest_at = resolve_from_args(args.dest, config)
    except StoreError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if str(source_at) == str(dest_at):
        print(f"{prog}: --from and --to name the same store ({source_at})", file=sys.stderr)
        return 2
    if not source_at.is_postgres and not (source_at.path and source_at.path.is_file()):
        print(f"{prog}: {source_at}: no such store", file=sys.stderr)
        return 2
    last = [0.0]

    def progress(p: CopyProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or p.copied >= p.total:
            last[0] = now
            print(f"{p.table}: {p.copied:,} of {p.total:,} rows", file=sys.stderr, flush=True)

    try:
        with Store(source_at) as source, Store(dest_at) as dest:
            result = copy_store(source, dest, on_progress=progress)
    except CopyError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1 if "counts differ" in str(exc) else 2
    except (StoreError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    copied = sum(result.copied.values())
    tables = ", ".join(f"{t} {n:,}" for t, n in result.counts.items())
    verb = "resumed: copied" if result.resumed else "copied"
    print(f"{verb} {copied:,} rows from {source_at} to {dest_at}; counts verified: {tables}")
    return 0
