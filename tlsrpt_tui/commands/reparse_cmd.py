"""``tlsrpt-tui reparse``: re-derive every stored report from its raw input with this parser."""

from __future__ import annotations

import argparse
import sys

HELP = "re-parse stored inputs with the current parser (recovers previously rejected ones)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """No options beyond --db/--config."""


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service.reparse import reparse_all

    store = open_store_arg(args)
    if store is None:
        return 2
    with store:
        summary = reparse_all(store)
    for line in summary.problems:
        print(line, file=sys.stderr)
    print(summary.line())
    return 0
