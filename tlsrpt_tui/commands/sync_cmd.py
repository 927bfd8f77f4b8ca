"""``tlsrpt-tui sync [--account NAME] [--watch]``: fetch report mail from IMAP accounts.

Progress (messages seen/new/rejected per folder) and one ``source: reason`` line per rejected
message go to stderr; the summary goes to stdout. Exit 0 when everything synced and nothing
was rejected, 1 when a message was rejected or an account failed (connection, login, TLS),
2 for configuration errors. ``--watch`` keeps an IDLE connection per folder and runs until
interrupted (Ctrl-C), printing what arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from tlsrpt_tui.core.terminal_text import visible
from tlsrpt_tui.service.config import ConfigError, load_config

HELP = "sync TLS-RPT report mail from the configured IMAP accounts (--watch: keep watching)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--account",
        action="append",
        metavar="NAME",
        help="only this account (repeatable; default: every [[accounts]] entry)",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after syncing, keep an IDLE connection per folder and ingest new mail as it comes",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS",
        help="network timeout per IMAP command (default 30)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, metavar="N",
        help="processes parsing and DKIM-verifying ahead of the store writer "
             "(default: one per CPU, at most 4)",
    )


def _clean(text: str) -> str:
    """Server and report text on a terminal: the CLI's one sanitiser (controls made visible)."""
    return visible(text)


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service.dkim import checker_for
    from tlsrpt_tui.service.pipeline import (
        one_shot_workers,
        preforked_workers,
        tune_gc_for_bulk_ingest,
    )
    from tlsrpt_tui.service.sync import SyncEvent, sync_all, watch

    try:
        config = load_config(args.config, required=True)
    except ConfigError as exc:
        print(f"tlsrpt-tui sync: {exc}", file=sys.stderr)
        return 2
    if args.jobs is not None and not 1 <= args.jobs <= 64:
        print("tlsrpt-tui sync: --jobs must be between 1 and 64", file=sys.stderr)
        return 2
    jobs = args.jobs if args.jobs is not None else max(1, one_shot_workers())
    accounts = list(config.accounts)
    if not accounts:
        print(f"tlsrpt-tui sync: {config.path}: no [[accounts]] configured", file=sys.stderr)
        return 2
    if args.account:
        names = {a.name for a in accounts}
        unknown = [n for n in args.account if n not in names]
        if unknown:
            print(
                f"tlsrpt-tui sync: {config.path}: no account named {', '.join(unknown)} "
                f"(known: {', '.join(sorted(names))})",
                file=sys.stderr,
            )
            return 2
        accounts = [a for a in accounts if a.name in args.account]
    store = open_store_arg(args)
    if store is None:
        return 2

    last_print = 0.0
    shown_problems: dict[tuple[str, str], int] = {}

    def on_progress(event: SyncEvent) -> None:
        nonlocal last_print
        fs = event.folder
        if fs is not None:
            key = (fs.account, fs.folder)
            done = shown_problems.get(key, 0)
            for line in fs.problems[done:]:
                print(_clean(line), file=sys.stderr)
            shown_problems[key] = len(fs.problems)
        now = time.monotonic()
        if event.kind == "batch" and fs is not None:
            if fs.pending and now - last_print < 0.5:
                return
            last_print = now
            print(
                _clean(
                    f"{fs.account}/{fs.folder}: {fs.seen} seen, {fs.new} new, "
                    f"{fs.rejected} rejected, {fs.pending} to go"
                ),
                file=sys.stderr,
            )
        elif event.message and event.kind in (
            "error", "warning", "reconnect", "done", "progress", "idle"
        ):
            print(_clean(event.message), file=sys.stderr)

    dkim = checker_for(config.checks.resolver)
    if dkim is None:
        print("tlsrpt-tui sync: no DNS resolver: DKIM signatures are not verified",
              file=sys.stderr)
    with store:
        if not args.watch:
            tune_gc_for_bulk_ingest()
        with preforked_workers(jobs):  # forked before the loop starts any thread: see there
            summary = asyncio.run(
                sync_all(store, accounts, on_progress=on_progress, timeout=args.timeout,
                         dkim=dkim)
            )
        for fs in summary.folders:
            print(_clean(fs.line()))
        print(_clean(f"total: {summary.line()}"))
        for err in summary.errors:
            print(f"tlsrpt-tui sync: {_clean(err)}", file=sys.stderr)
        if args.watch:
            print("watching for new mail (Ctrl-C to stop)", file=sys.stderr)
            asyncio.run(watch(store, accounts, on_progress=on_progress, timeout=args.timeout,
                              dkim=checker_for(config.checks.resolver)))
    return 0 if summary.ok and summary.total("rejected") == 0 else 1
