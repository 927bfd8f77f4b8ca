"""``tlsrpt-tui readiness [DOMAIN...]``: can MTA-STS go to enforce, and what does enforce cost?

From the stored reports of the last ``--days`` days (default 30) per policy domain and policy
type, joined with the last stored live check (run ``check`` first for today's findings). No
network. ``--format json`` prints a list of answers (see ``core.readiness.Readiness.to_json``).
Exit 0 when no answer is "failing", 1 when one is (mail is, or would be, lost to a cause that is
not known to be fixed), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

HELP = "say whether MTA-STS can go to enforce (and what enforce or DANE costs) from the reports"


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 1 <= value <= 3660:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 1 and 3660 days")
    return value


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("domains", nargs="*", metavar="DOMAIN",
                        help="default: config domains, else every reported domain")
    parser.add_argument("--days", type=_days, default=30, metavar="N",
                        help="report window ending today (default 30)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.check_cmd import clean
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.core.readiness import describe
    from tlsrpt_tui.service.checks import normalize_domain
    from tlsrpt_tui.service.config import ConfigError, load_config
    from tlsrpt_tui.service.readiness import readiness

    prog = "tlsrpt-tui readiness"
    try:
        config = load_config(getattr(args, "config", None))
        names = [normalize_domain(d) for d in args.domains]
    except (ConfigError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    store = open_store_arg(args)
    if store is None:
        return 2
    today = datetime.now(UTC).date()
    with store:
        answers = readiness(store, names or list(config.domains) or None, today=today,
                            days=args.days)
    if args.format == "json":
        json.dump([a.to_json() for a in answers], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif not answers:
        print(f"{prog}: no reports in the last {args.days} days and no domain asked for",
              file=sys.stderr)
        return 1
    else:
        for answer in answers:
            for _, line in describe(answer):
                print(clean(line))
            print()
    return 1 if any(a.verdict == "failing" for a in answers) else 0
