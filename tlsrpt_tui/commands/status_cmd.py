"""``tlsrpt-tui status [DOMAIN...]``: the last stored check of each domain, without the network.

What the TUI's DNS status panel shows at start-up; for scripts and for hosts where port 25 is
blocked outbound and checks run elsewhere against the same store.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tlsrpt_tui.store.leases import Lease

HELP = "show the last stored check result of domains (no network; see `check` for a live one)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("domains", nargs="*", metavar="DOMAIN",
                        help="default: config domains, else every checked domain")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.check_cmd import print_host_notes, print_status
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service.checks import DomainStatus, changes, normalize_domain
    from tlsrpt_tui.service.config import ConfigError, load_config
    from tlsrpt_tui.store import checks as stored
    from tlsrpt_tui.store import leases

    try:
        config = load_config(getattr(args, "config", None))
        names = [normalize_domain(d) for d in args.domains]
    except (ConfigError, ValueError) as exc:
        print(f"tlsrpt-tui status: {exc}", file=sys.stderr)
        return 2
    store = open_store_arg(args)
    if store is None:
        return 2
    with store:
        names = names or list(config.domains) or stored.domains(store)
        results = [(n, stored.latest(store, n), stored.previous(store, n)) for n in names]
        held = leases.held(store)
    if not names:
        print("tlsrpt-tui status: no domains in the config and none checked yet", file=sys.stderr)
        return 1
    missing = [n for n, latest, _ in results if latest is None]
    found = [(latest, prev) for _, latest, prev in results if latest is not None]
    for name in missing:
        print(f"tlsrpt-tui status: {name}: never checked (run `tlsrpt-tui check {name}`)",
              file=sys.stderr)
    if args.format == "json":
        json.dump([latest for latest, _ in found], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        statuses = [DomainStatus.from_json(latest) for latest, _ in found]
        print_host_notes(statuses)
        for status, (latest, prev) in zip(statuses, found, strict=True):
            print_status(status, changes(prev, latest))
        print_workers(held)
    if missing:
        return 1
    return 1 if any(latest["status"] == "error" for latest, _ in found) else 0


def print_workers(held: list[Lease]) -> None:
    """What the workers sharing this store hold right now (folders, checks, alert channels)."""
    from tlsrpt_tui.core.terminal_text import visible

    if not held:
        return
    print("\nworkers sharing this store:")
    for lease in held:
        print(visible(f"  {lease.name}: {lease.line()}"))
