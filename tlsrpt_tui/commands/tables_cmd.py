"""``tlsrpt-tui overview|policies|failures``: the seed's three tables from the store.

``--format table`` (aligned text with a Total row; control characters stripped from report
text), ``csv`` (header + rows, data exact) or ``json`` (``{"rows": [...], "total": {...}}``).
Filters: ``--domain`` (policy domain), ``--since``/``--until`` (inclusive, report start date).
Rows of reports whose mail failed DKIM (forged or altered) are marked ✗ (json: ``"forged":
true``) and left out of the Total, which says how many it left out.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from tlsrpt_tui.core import tables

HELP = {
    "overview": "Report Overview table: one row per report",
    "policies": "Policy Summary table: one row per policy",
    "failures": "failure details table: one row per failure detail",
}


def _date_arg(text: str) -> date:
    try:
        return tables.parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--format", choices=tables.FORMATS, default="table", help="output format (default table)"
    )
    parser.add_argument("--domain", metavar="D", help="only policies for this policy domain")
    parser.add_argument(
        "--since", metavar="YYYY-MM-DD", type=_date_arg, help="reports starting on/after this day"
    )
    parser.add_argument(
        "--until", metavar="YYYY-MM-DD", type=_date_arg, help="reports starting on/before this day"
    )


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service.queries import TABLE_QUERIES, TableFilter, forged_reports

    if args.since and args.until and args.since > args.until:
        print(
            f"tlsrpt-tui {args.command}: --since {args.since} is after --until {args.until}",
            file=sys.stderr,
        )
        return 2
    store = open_store_arg(args)
    if store is None:
        return 2
    flt = TableFilter(domain=args.domain or None, since=args.since, until=args.until)
    with store:
        forged = forged_reports(store)
        rows = TABLE_QUERIES[args.command](store, flt)
        out = sys.stdout
        for chunk in tables.render(rows, tables.ROW_TYPES[args.command], args.format, forged):
            out.write(chunk)
        out.flush()
    return 0
