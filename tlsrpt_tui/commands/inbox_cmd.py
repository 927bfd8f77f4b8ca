"""``tlsrpt-tui inbox``: the TUI's report inbox as text, newest first; ``--unreadable`` lists the
stored inputs that could not be read, with their reasons (nothing is dropped, so they are there);
``--other`` the synced mail recorded as not a report.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from typing import ClassVar

HELP = "list stored reports newest first (the TUI's inbox); --unreadable: inputs that failed"


@dataclass(frozen=True, slots=True)
class InboxTableRow:
    """An inbox row in the shape core.tables renders (COLUMNS + successful/failed counts)."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "ID", "Sig", "Date", "Organization", "Report ID", "Policy Domains", "Policy Types",
        "Successful Sessions", "Failed Sessions",
    )
    id: int
    sig: str  # ✓ DKIM pass and aligned, ✗ DKIM fail (forged or altered), ? anything else
    date: str
    organization: str
    report_id: str
    policy_domains: str
    policy_types: str
    successful: int
    failed: int


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--filter", metavar="TEXT", help="organization, domain, report-id, "
                        "contact or a failure's result type containing TEXT (case-insensitive); "
                        "dkim:RESULT (pass, fail, none, temperror, permerror, unknown) selects "
                        "by signature, only:failing the reports with failed sessions")
    parser.add_argument("--limit", type=_count, default=50, metavar="N",
                        help="at most N rows (default 50; 0 = all)")
    parser.add_argument("--offset", type=_count, default=0, metavar="N", help="skip N rows")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--unreadable", action="store_true",
                        help="list stored inputs that could not be read, with the reason")
    parser.add_argument("--other", action="store_true",
                        help="list synced mail recorded as not a report (From/Subject/Date), "
                        "which 'reparse' reconsiders")


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.import_cmd import open_store_arg

    store = open_store_arg(args)
    if store is None:
        return 2
    with store:
        if args.unreadable or args.other:
            _print_unreadable(store, args)
        else:
            _print_inbox(store, args)
    return 0


def _print_inbox(store, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from tlsrpt_tui.core import tables
    from tlsrpt_tui.core.signature import mark
    from tlsrpt_tui.service import queries

    limit = args.limit or queries.inbox_count(store, args.filter)
    page = queries.inbox_page(store, offset=args.offset, limit=limit, text_filter=args.filter)
    rows = [
        InboxTableRow(r.pk, mark(r.dkim), r.date, r.organization, r.report_id,
                      r.policy_domains, r.policy_types, r.successful, r.failed)
        for r in page
    ]
    if args.format == "json":  # the rows as objects, each with its full DKIM verdict
        dicts = []
        for row, item in zip(rows, page, strict=True):
            d = tables.row_dict(row)  # type: ignore[arg-type]
            d["dkim"] = item.dkim.to_json() if item.dkim is not None else None  # type: ignore[assignment]
            dicts.append(d)
        total = {"successful": sum(r.successful for r in rows),
                 "failed": sum(r.failed for r in rows)}
        json.dump({"rows": dicts, "total": total}, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    for chunk in tables.render(rows, InboxTableRow, args.format):  # type: ignore[arg-type]
        sys.stdout.write(chunk)


def _print_unreadable(store, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from tlsrpt_tui.core.tables import terminal_safe
    from tlsrpt_tui.service import queries

    other = bool(args.other)
    limit = args.limit or queries.unreadable_count(store, other=other)
    items = queries.unreadable_inputs(store, limit=args.offset + limit, other=other)
    items = items[args.offset:]
    if args.format == "json":
        data = [{"id": u.pk, "imported_at": u.imported_at, "source": u.source, "error": u.error}
                for u in items]
        json.dump({"rows": data}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("ID", "Imported", "Source", "Reason"))
        writer.writerows((u.pk, u.imported_at, u.source, u.error) for u in items)
    else:
        for u in items:
            print(f"{u.pk}  {u.imported_at[:19]}  {terminal_safe(u.source)}: "
                  f"{terminal_safe(u.error)}")
