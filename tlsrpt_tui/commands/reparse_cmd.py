"""``tlsrpt-tui reparse``: re-derive every stored report from its raw input with this parser."""

from __future__ import annotations

import argparse
import sys

HELP = "re-parse stored inputs with the current parser (recovers previously rejected ones)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--reverify", action="store_true",
        help="also check mail's DKIM signatures again against today's DNS (verdicts are "
             "otherwise kept as decided on arrival: keys rotate)",
    )


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service.reparse import reparse_all

    checker = None
    trusted: dict[str, str] = {}
    if args.reverify:
        from tlsrpt_tui.service.config import ConfigError, load_config
        from tlsrpt_tui.service.dkim import checker_for

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"tlsrpt-tui reparse: {exc}", file=sys.stderr)
            return 2
        checker = checker_for(config.checks.resolver)
        if checker is None:
            print("tlsrpt-tui reparse: --reverify needs a DNS resolver ([checks] resolver)",
                  file=sys.stderr)
            return 2
        trusted = {a.name: a.trusted_authserv_id for a in config.accounts
                   if a.trusted_authserv_id}
    store = open_store_arg(args)
    if store is None:
        return 2
    with store:
        summary = reparse_all(store, reverify=checker, trusted_authserv_ids=trusted)
    for line in summary.problems:
        print(line, file=sys.stderr)
    print(summary.line())
    return 0
