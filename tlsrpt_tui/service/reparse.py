"""Re-parsing stored raw inputs with the current parser: ``tlsrpt-tui reparse``.

The store keeps every report or rejected input's bytes, so a parser fix reaches old data:
inputs rejected before that now parse become reports, and existing reports are re-derived in
place (same pk, so the TUI's selection survives). Running it twice changes nothing the second
time: it is a pure function of the stored bytes and the parser.

DKIM verdicts are NOT re-derived: they were decided when the mail arrived, and keys rotate (a
key removed since would turn every old report into an unverifiable one). ``--reverify``
checks the signatures again against today's DNS, on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

from tlsrpt_tui.core.model import InputStatus
from tlsrpt_tui.core.parse import DEFAULT_LIMITS, Limits, parse_bytes
from tlsrpt_tui.service.ingest import parser_version, source_line
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store

if TYPE_CHECKING:
    from tlsrpt_tui.service.dkim import DkimChecker


@dataclass(slots=True)
class ReparseSummary:
    inputs: int = 0
    #: Inputs that were rejected before and are reports now.
    recovered: int = 0
    #: Reports added (from recovered inputs, or new reports found in known inputs).
    added: int = 0
    #: Existing reports re-derived in place because their stored rows differed.
    updated: int = 0
    #: Existing reports whose stored rows already matched the parse (left untouched).
    unchanged: int = 0
    #: Reports that the current parser no longer derives from their input.
    removed: int = 0
    #: Reports that another input already holds.
    duplicate: int = 0
    #: Inputs that are (still or newly) rejected.
    rejected: int = 0
    #: Mail recorded as not a report that still is not one (or is kept as a header only).
    not_report: int = 0
    #: Mail inputs whose DKIM verdict was checked again (``--reverify``), and how many changed.
    reverified: int = 0
    verdicts_changed: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.inputs} inputs re-parsed: {self.recovered} recovered, {self.added} added,"
            f" {self.updated} updated, {self.unchanged} unchanged, {self.removed} removed,"
            f" {self.duplicate} duplicate,"
            f" {self.rejected} rejected, {self.not_report} still not a report"
        )
        if self.reverified:
            text += (f"; DKIM re-verified for {self.reverified} mails,"
                     f" {self.verdicts_changed} changed")
        return text


def _batches(pks: Iterator[int], size: int) -> Iterator[list[int]]:
    while True:
        chunk = list(islice(pks, size))
        if not chunk:
            return
        yield chunk


def reparse_all(
    store: Store,
    limits: Limits = DEFAULT_LIMITS,
    *,
    batch_size: int = 200,
    on_progress: Callable[[ReparseSummary], None] | None = None,
    reverify: DkimChecker | None = None,
    trusted_authserv_ids: Mapping[str, str] | None = None,
) -> ReparseSummary:
    """Re-parse every stored input, one transaction per batch of inputs.

    With ``reverify``, each batch's mail is DKIM-verified again first (its keys fetched
    concurrently) and the new verdicts are stored in the batch's transaction;
    ``trusted_authserv_ids`` maps an IMAP account name to its ``trusted_authserv_id``."""
    summary = ReparseSummary()
    pks = list(db.iter_input_pks(store))  # ints only: stays small even for 100,000s of inputs
    loop = asyncio.new_event_loop() if reverify is not None else None
    try:
        for chunk in _batches(iter(pks), batch_size):
            verdicts = (
                _reverify(store, chunk, reverify, loop, trusted_authserv_ids or {})
                if reverify is not None and loop is not None else {}
            )
            with store.transaction():
                for pk in chunk:
                    reparse_input(store, pk, limits, summary)
                for pk, (old, new) in verdicts.items():
                    summary.reverified += 1
                    if old != new:
                        summary.verdicts_changed += 1
                        db.set_input_dkim(store, pk, new)
            if on_progress is not None:
                on_progress(summary)
    finally:
        if loop is not None:
            loop.close()
    return summary


def _reverify(
    store: Store,
    chunk: list[int],
    checker: DkimChecker,
    loop: asyncio.AbstractEventLoop,
    trusted: Mapping[str, str],
) -> dict[int, tuple[object, object]]:
    """input pk → (stored verdict, new verdict) for the mail inputs of a chunk."""
    groups: dict[str | None, list[tuple[int, bytes, object]]] = {}
    for pk in chunk:
        meta = db.get_input(store, pk)
        data = db.raw_bytes(store, pk)
        if meta is None or data is None:
            continue
        trusted_id = trusted.get(meta.origin.account or "") if meta.origin.kind == "imap" else None
        groups.setdefault(trusted_id, []).append((pk, data, meta.dkim))
    out: dict[int, tuple[object, object]] = {}
    for trusted_id, items in groups.items():
        new = loop.run_until_complete(
            checker.verdicts([d for _, d, _ in items], trusted_authserv_id=trusted_id)
        )
        for (pk, _, old), verdict in zip(items, new, strict=True):
            if verdict is not None:
                out[pk] = (old, verdict)
    return out


def reparse_input(store: Store, input_pk: int, limits: Limits, summary: ReparseSummary) -> None:
    """Re-derive one input's reports; runs inside the caller's transaction."""
    meta = db.get_input(store, input_pk)
    data = db.raw_bytes(store, input_pk)
    if meta is None or data is None:
        return
    summary.inputs += 1
    was_other = meta.status is InputStatus.NOT_REPORT
    if was_other and meta.size != len(data):
        summary.not_report += 1  # over the keep limit: only its header is stored
        return
    parsed = parse_bytes(data, meta.source, limits)
    if was_other and parsed.status is InputStatus.NOT_REPORT:
        summary.not_report += 1  # its record (From/Subject/Date) stays as it was
        return
    owned = db.report_pks_of_input(store, input_pk)
    kept: set[int] = set()
    db.update_input_status(
        store,
        input_pk,
        status=parsed.status,
        error=parsed.error,
        part_errors=parsed.part_errors,
        parser_version=parser_version(),
    )
    if parsed.status is InputStatus.REPORT and parsed.reports:
        if meta.status is not InputStatus.REPORT:
            summary.recovered += 1
        for index, report in enumerate(parsed.reports):
            found = db.find_report(store, report)
            if found is None:
                db.insert_report(store, report, input_pk, index)
                summary.added += 1
            elif found[1] == input_pk:
                if found[0] in kept:  # the same report twice in one input
                    summary.duplicate += 1
                    continue
                if db.replace_report(store, found[0], report, index):
                    summary.updated += 1
                else:
                    summary.unchanged += 1
                kept.add(found[0])
            else:
                summary.duplicate += 1
    else:
        summary.rejected += 1
        summary.problems.append(source_line(meta.source, parsed.error or str(parsed.status)))
    gone = [pk for pk in owned if pk not in kept]
    if gone:
        db.delete_reports(store, gone)
        summary.removed += len(gone)
