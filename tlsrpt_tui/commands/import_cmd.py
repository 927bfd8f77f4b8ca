"""``tlsrpt-tui import PATH...``: store report files, mboxes and Maildirs.

Prints ``N new, N duplicate, N rejected`` on stdout and one ``source: reason`` line per input
that was rejected or is not a report on stderr. Exit 0 when every input was a report (new or
duplicate), 1 when any was rejected or not a report, 2 on usage errors or an unusable store.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from tlsrpt_tui.store.database import Store, StoreError, open_store

HELP = "import TLS-RPT reports from files, directories, mboxes or Maildirs"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="report file, mail, mbox, Maildir or directory"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, metavar="N",
        help="inputs per committed transaction (default 1000; fewer when they hold over "
             "16 MiB)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, metavar="N",
        help="processes parsing and DKIM-verifying ahead of the store writer "
             "(default: one per CPU, at most 4; 0: none)",
    )
    parser.add_argument(
        "--no-dkim", action="store_true",
        help="do not verify DKIM signatures of mail (offline; the inbox then shows '?')",
    )


def open_store_arg(args: argparse.Namespace) -> Store | None:
    """The store named by --db (or $TLSRPT_TUI_DB, or [store] url, or the default); None
    after printing why."""
    from tlsrpt_tui.service.store_location import resolve_from_args

    location = None
    try:
        location = resolve_from_args(getattr(args, "db", None), getattr(args, "config", None))
        return open_store(location)
    except (StoreError, OSError) as exc:
        print(f"tlsrpt-tui: {exc}", file=sys.stderr)
        return None
    except sqlite3.Error as exc:  # e.g. the file is not an SQLite database
        print(f"tlsrpt-tui: {location}: cannot use the store: {exc}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.service.import_paths import BATCH_SIZE, import_paths
    from tlsrpt_tui.service.ingest import IngestOutcome, OutcomeKind, source_line
    from tlsrpt_tui.service.pipeline import one_shot_workers, tune_gc_for_bulk_ingest

    if args.batch_size is None:  # the default lives with the pipeline (the help names it)
        args.batch_size = BATCH_SIZE
    if args.batch_size < 1:
        print("tlsrpt-tui import: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if args.jobs is not None and not 0 <= args.jobs <= 64:
        print("tlsrpt-tui import: --jobs must be between 0 and 64", file=sys.stderr)
        return 2
    jobs = args.jobs if args.jobs is not None else one_shot_workers()
    dkim = None
    if not args.no_dkim:
        from tlsrpt_tui.service.config import ConfigError, load_config
        from tlsrpt_tui.service.dkim import checker_for

        try:
            resolver = load_config(args.config).checks.resolver
        except ConfigError as exc:
            print(f"tlsrpt-tui import: {exc}", file=sys.stderr)
            return 2
        dkim = checker_for(resolver)
        if dkim is None:
            print("tlsrpt-tui import: no DNS resolver: DKIM signatures are not verified "
                  "(--no-dkim says so quietly)", file=sys.stderr)
    store = open_store_arg(args)
    if store is None:
        return 2

    def show(outcome: IngestOutcome) -> None:
        # Streamed as they happen, so a long import shows its problems early.
        if outcome.kind in (OutcomeKind.REJECTED, OutcomeKind.NOT_REPORT):
            print(outcome.line, file=sys.stderr)
        for err in outcome.part_errors:
            print(source_line(outcome.source, err), file=sys.stderr)

    tune_gc_for_bulk_ingest()
    with store:
        summary = import_paths(
            store, args.paths, on_outcome=show, batch_size=args.batch_size, workers=jobs,
            dkim=dkim,
        )
    print(summary.line())
    return 0 if summary.ok else 1
