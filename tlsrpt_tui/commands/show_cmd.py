"""``tlsrpt-tui show REPORT``: one report as the TUI's report and failure screens show it.

REPORT is the store id that `inbox` prints, or a report-id (the JSON one, or the mail
Subject's). ``--format json`` gives the report in RFC 8460 shape with what the store knows about
it; ``--raw`` writes the input exactly as received (the mail or file), for a file or a pipe.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "show one report (by the id `inbox` prints, or its report-id) with policies and failures"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("report", metavar="REPORT", help="store id or report-id")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--raw", action="store_true",
                        help="write the stored input (mail or file) exactly as received")


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service import queries

    store = open_store_arg(args)
    if store is None:
        return 2
    with store:
        pks = queries.find_reports(store, args.report)
        if not pks:
            print(f"tlsrpt-tui show: no report matches {args.report!r}", file=sys.stderr)
            return 1
        details = [(pk, queries.report_detail(store, pk)) for pk in pks]
        if args.raw:
            if len(pks) > 1:
                print(f"tlsrpt-tui show: {len(pks)} reports match {args.report!r}; "
                      f"give a store id: {', '.join(map(str, pks))}", file=sys.stderr)
                return 1
            if sys.stdout.isatty():
                print("tlsrpt-tui show: --raw writes untrusted bytes; redirect it to a file "
                      "or a pipe", file=sys.stderr)
                return 2
            _, (_, meta) = details[0]  # type: ignore[misc]
            sys.stdout.buffer.write(queries.raw_input_bytes(store, meta.pk) or b"")
            return 0
    if args.format == "json":
        data = [_as_json(pk, d) for pk, d in details if d is not None]
        json.dump(data[0] if len(data) == 1 else data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for i, (pk, detail) in enumerate(details):
            if detail is not None:
                if i:
                    print()
                _print_text(pk, *detail)
    return 0


def _as_json(pk: int, detail: Any) -> dict[str, Any]:
    from tlsrpt_tui.core.report_dict import iso_z, report_to_rfc_dict

    report, meta = detail
    return {
        "id": pk,
        "source": meta.source,
        "imported_at": meta.imported_at,
        "subject_report_id": report.subject_report_id,
        "report_domain": report.report_domain,
        "submitter": report.submitter,
        "generated_at": iso_z(report.generated_at),
        "notes": list(report.notes),
        "dkim": meta.dkim.to_json() if meta.dkim is not None else None,
        "report": report_to_rfc_dict(report),
    }


def _print_text(pk: int, report: Any, meta: Any) -> None:
    from tlsrpt_tui.core import tables
    from tlsrpt_tui.core.checks.catalogue import RESULT_TYPES
    from tlsrpt_tui.core.report_dict import iso_z
    from tlsrpt_tui.core.signature import describe, mark
    from tlsrpt_tui.core.terminal_text import visible as safe

    fields = [
        ("Organization", report.organization),
        ("Contact", report.contact),
        ("Report-ID", report.report_id),
        ("Subject Report-ID", report.subject_report_id),
        ("Date range", f"{iso_z(report.start)} → {iso_z(report.end)}"),
        ("Generated at", iso_z(report.generated_at)),
        ("Submitter", report.submitter),
        ("Report domain", report.report_domain),
        ("Source", f"{meta.source} (imported {meta.imported_at[:19]})"),
        ("Signature", f"{mark(meta.dkim)} {describe(meta.dkim)}"),
        ("Sessions", f"{report.successful_sessions} successful, {report.failed_sessions} failed"),
    ]
    print(f"Report {pk}")
    for label, value in fields:
        if value:
            print(f"  {label + ':':<19}{safe(str(value))}")
    for note in report.notes:
        print(f"  note: {safe(note)}")
    for policy in report.policies:
        row = tables.policy_row(report, policy)
        print(f"\n  {safe(row.policy_type)} {safe(row.policy_domain)}: "
              f"{row.successful} successful, {row.failed} failed")
        print(f"    {safe(row.policy_details)}")
        for d in policy.failure_details:
            where = " ".join(
                safe(f"{k}={v}") for k, v in (
                    ("mx", d.receiving_mx_hostname), ("ip", d.receiving_ip),
                    ("helo", d.receiving_mx_helo), ("from", d.sending_mta_ip),
                ) if v
            )
            print(f"    ✗ {safe(d.result_type)} ×{d.failed_session_count}  {where}".rstrip())
            if d.failure_reason_code:
                print(f"      reason: {safe(d.failure_reason_code)}")
            if d.additional_information:
                print(f"      more: {safe(d.additional_information)}")
            meaning = RESULT_TYPES.get(d.result_type)
            if meaning:
                print(f"      meaning: {meaning[0]}")
                print(f"      fix: {meaning[1]}")
