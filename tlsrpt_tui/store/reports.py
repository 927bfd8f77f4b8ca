"""Reports in the store: raw inputs, de-duplicated reports, their policies and failure details.

Every function takes a :class:`~tlsrpt_tui.store.database.Store` and does no transaction
handling: callers wrap them in ``with store.transaction():`` so that, for instance, the IMAP
sync commits its own sync state in the same transaction as the reports it fetched.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_quote
from typing import NamedTuple

from isal.isal_zlib import compress as _zlib_compress

from tlsrpt_tui.core.model import (
    DkimVerdict,
    FailureDetail,
    InputStatus,
    Origin,
    Policy,
    PolicyType,
    Report,
)
from tlsrpt_tui.store import totals
from tlsrpt_tui.store.database import Store

#: Compression level of stored raw bytes (ISA-L's, 0-3). Report mail is mostly base64 of gzip:
#: level 1 gets ~60% of the size like zlib's level 6 does, at a fraction of the time.
ZLIB_LEVEL = 1


def compress(data: bytes) -> bytes:
    """The raw bytes as the store keeps them (``data_zlib``): a zlib stream (RFC 1950), which
    any ``zlib.decompress`` reads.

    Written by ISA-L (``isal``), not the zlib module. Why: every stored input is compressed in
    the parser processes, and zlib's level 1 took ~43 µs for a 1.6 KB report mail (most of it
    its per-stream set-up and block coding), libdeflate's level 1 ~25 µs (a tenth of the
    parser's CPU a mail), ISA-L's ~13-18 µs for the same size of output (bench_import.py's
    mails: 0.605 of the input, libdeflate 0.602, zlib 0.601)."""
    return _zlib_compress(data, ZLIB_LEVEL)


# --------------------------------------------------------------------------------------------
# Raw inputs


def storable_text(value: str | None) -> str | None:
    """Text the store can bind: lone surrogates (a non-UTF-8 file name decoded by the OS layer
    with surrogateescape) become backslash escapes instead of making the insert raise."""
    if value is None or value.isascii():  # isascii: no copy made to find out
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def origin_key(origin: Origin) -> str:
    """One NULL-free text naming an origin, for the UNIQUE(sha256, origin_key) constraint."""
    if origin.kind == "imap":
        parts = ["imap", origin.account or "", origin.folder or "",
                 str(origin.uidvalidity or ""), str(origin.uid or "")]
    else:
        parts = [origin.kind, origin.path or ""]
    return "\x1f".join(parts)


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def iso_utc(value: datetime) -> str:
    """The stored spelling of a datetime: ISO 8601 in UTC (sorts as text, date = [:10])."""
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat()


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class StoredInput:
    """A raw input row without its bytes (what the TUI's report screen shows about the source)."""

    pk: int
    source: str
    origin: Origin
    sha256: str  # hex
    size: int
    received_at: str | None
    imported_at: str
    status: InputStatus
    error: str | None
    part_errors: tuple[str, ...]
    parser_version: str
    #: Decided when the mail arrived; None for inputs that were not mail (or not verified).
    dkim: DkimVerdict | None = None


def dkim_values(verdict: DkimVerdict | None) -> tuple[object, ...]:
    """The five dkim_* column values of a verdict (all NULL for none)."""
    if verdict is None:
        return (None, None, None, None, None)
    return (verdict.result, verdict.domain, verdict.selector, int(verdict.aligned),
            verdict.authserv_id)


def dkim_from_row(result: str | None, domain: str | None, selector: str | None,
                  aligned: int | None, authserv: str | None) -> DkimVerdict | None:
    if result is None:
        return None
    return DkimVerdict(result, domain, selector, bool(aligned), authserv)


def set_input_dkim(store: Store, input_pk: int, verdict: DkimVerdict | None) -> None:
    """Replace an input's stored verdict (``reparse --reverify``); its reports move between
    the forged and the other day totals when the verdict's "fail" changes."""
    moved = []
    forged = verdict is not None and verdict.result == "fail"
    if totals.forged_of(store, input_pk) != forged:
        moved = report_pks_of_input(store, input_pk)
        totals.remove_stored(store, moved)
    store.conn.execute(
        "UPDATE raw_inputs SET dkim_result = ?, dkim_domain = ?, dkim_selector = ?,"
        " dkim_aligned = ?, dkim_authserv = ? WHERE id = ?",
        (*dkim_values(verdict), input_pk),
    )
    totals.note_forged(store, input_pk, forged)
    totals.add_stored(store, moved)


def stored_input_keys(store: Store, digests: Sequence[bytes]) -> set[tuple[bytes, str]]:
    """(sha256, origin_key) of each stored raw input whose SHA-256 is one of ``digests``."""
    out: set[tuple[bytes, str]] = set()
    for i in range(0, len(digests), 500):
        chunk = digests[i:i + 500]
        if store.dialect == "postgresql":
            # the array in binary (%b): as text, psycopg escapes every byte (~30 ms for 500)
            rows = store.conn.raw.execute(  # type: ignore[attr-defined]
                "SELECT sha256, origin_key FROM raw_inputs WHERE sha256 = ANY(%b)", (list(chunk),))
        else:
            rows = store.conn.execute("SELECT sha256, origin_key FROM raw_inputs WHERE sha256 IN"
                                      f" ({', '.join('?' * len(chunk))})", chunk)
        out.update((bytes(sha), str(key)) for sha, key in rows)
    return out


def find_raw_input(store: Store, sha256: bytes, key: str) -> int | None:
    row = store.conn.execute(
        "SELECT id FROM raw_inputs WHERE sha256 = ? AND origin_key = ?", (sha256, key)
    ).fetchone()
    return None if row is None else int(row[0])


_RAW_INPUT_COLUMNS = (
    "source, origin_kind, origin_path, origin_account, origin_folder, origin_uidvalidity,"
    " origin_uid, origin_key, sha256, size, data_zlib, received_at, imported_at, status, error,"
    " part_errors, parser_version, dkim_result, dkim_domain, dkim_selector, dkim_aligned,"
    " dkim_authserv")
_RAW_INPUT_MARKS = ", ".join("?" * 22)


def raw_input_values(
    *,
    source: str,
    data: bytes,
    origin: Origin,
    status: InputStatus,
    error: str | None,
    part_errors: Iterable[str] = (),
    parser_version: str,
    received_at: str | None = None,
    digest: bytes | None = None,
    compressed: bytes | None = None,
    dkim: DkimVerdict | None = None,
    imported_at: str | None = None,
) -> tuple[object, ...]:
    """The raw_inputs row of an input (``_RAW_INPUT_COLUMNS``); see store_raw_input.
    ``imported_at``: now (``utc_now_iso``) unless given (a batch reads the clock once)."""
    if digest is None:
        digest = hashlib.sha256(data).digest()
    if compressed is None:
        compressed = compress(data)
    path, folder = storable_text(origin.path), storable_text(origin.folder)
    if path is not origin.path or folder is not origin.folder:  # only then a new one
        origin = Origin(kind=origin.kind, path=path, account=origin.account, folder=folder,
                        uidvalidity=origin.uidvalidity, uid=origin.uid)
    errors = list(part_errors)
    return (
        storable_text(source) or "", origin.kind, origin.path, origin.account, origin.folder,
        origin.uidvalidity, origin.uid, origin_key(origin), digest, len(data), compressed,
        received_at, imported_at or utc_now_iso(), str(status), error,
        "[]" if not errors else json.dumps(errors), parser_version, *dkim_values(dkim),
    )


def store_raw_input(
    store: Store,
    *,
    source: str,
    data: bytes,
    origin: Origin,
    status: InputStatus,
    error: str | None,
    part_errors: Iterable[str] = (),
    parser_version: str,
    received_at: str | None = None,
    digest: bytes | None = None,
    compressed: bytes | None = None,
    dkim: DkimVerdict | None = None,
) -> tuple[int, bool]:
    """Store one input's bytes (or refresh the parse result of identical stored bytes).

    Returns (pk, created). Identical bytes from the same origin are kept once: the existing row
    gets the new parse status, error and parser version instead. ``digest`` (SHA-256) and
    ``compressed`` (``compress(data)``) may be computed beforehand, off the writing process.
    ``dkim`` is the verdict decided at arrival; identical bytes stored again keep the stored
    verdict unless a new one is given.
    """
    values = raw_input_values(
        source=source, data=data, origin=origin, status=status, error=error,
        part_errors=part_errors, parser_version=parser_version, received_at=received_at,
        digest=digest, compressed=compressed, dkim=dkim)
    cur = store.conn.execute(_INSERT_RAW_INPUT + " RETURNING id", values)
    row = cur.fetchone()
    if row is not None:
        totals.note_forged(store, int(row[0]), dkim is not None and dkim.result == "fail")
        return int(row[0]), True
    return _refresh_raw_input(store, values, dkim), False


_INSERT_RAW_INPUT = (f"INSERT INTO raw_inputs ({_RAW_INPUT_COLUMNS}) VALUES ({_RAW_INPUT_MARKS})"
                     " ON CONFLICT (sha256, origin_key) DO NOTHING")


def _refresh_raw_input(store: Store, values: tuple[object, ...],
                       dkim: DkimVerdict | None) -> int:
    """Identical bytes from the same origin are stored already (``values`` conflicted): that
    row takes the new parse status, error, parser version and source, and ``dkim`` when one
    is given. Returns its pk."""
    existing = find_raw_input(store, values[8], values[7])  # type: ignore[arg-type]
    assert existing is not None  # the conflict says it exists
    store.conn.execute(
        "UPDATE raw_inputs SET status = ?, error = ?, part_errors = ?, parser_version = ?,"
        " source = ? WHERE id = ?",
        (values[13], values[14], values[15], values[16], values[0], existing),
    )
    if dkim is not None:
        set_input_dkim(store, existing, dkim)
    return existing


def update_input_status(
    store: Store,
    input_pk: int,
    *,
    status: InputStatus,
    error: str | None,
    part_errors: Iterable[str] = (),
    parser_version: str,
) -> None:
    store.conn.execute(
        "UPDATE raw_inputs SET status = ?, error = ?, part_errors = ?, parser_version = ?"
        " WHERE id = ?",
        (str(status), error, json.dumps(list(part_errors)), parser_version, input_pk),
    )


def raw_bytes(store: Store, input_pk: int) -> bytes | None:
    """The input's original bytes, as received (decompressed)."""
    row = store.conn.execute(
        "SELECT data_zlib FROM raw_inputs WHERE id = ?", (input_pk,)
    ).fetchone()
    return None if row is None else zlib.decompress(row[0])


_INPUT_COLUMNS = (
    "id, source, origin_kind, origin_path, origin_account, origin_folder, origin_uidvalidity,"
    " origin_uid, sha256, size, received_at, imported_at, status, error, part_errors,"
    " parser_version, dkim_result, dkim_domain, dkim_selector, dkim_aligned, dkim_authserv"
)


def _stored_input(row) -> StoredInput:  # type: ignore[no-untyped-def]
    return StoredInput(
        pk=row["id"],
        source=row["source"],
        origin=Origin(
            kind=row["origin_kind"],
            path=row["origin_path"],
            account=row["origin_account"],
            folder=row["origin_folder"],
            uidvalidity=row["origin_uidvalidity"],
            uid=row["origin_uid"],
        ),
        sha256=bytes(row["sha256"]).hex(),
        size=row["size"],
        received_at=row["received_at"],
        imported_at=row["imported_at"],
        status=InputStatus(row["status"]),
        error=row["error"],
        part_errors=tuple(json.loads(row["part_errors"] or "[]")),
        parser_version=row["parser_version"],
        dkim=dkim_from_row(row["dkim_result"], row["dkim_domain"], row["dkim_selector"],
                           row["dkim_aligned"], row["dkim_authserv"]),
    )


def get_input(store: Store, input_pk: int) -> StoredInput | None:
    row = store.conn.execute(
        f"SELECT {_INPUT_COLUMNS} FROM raw_inputs WHERE id = ?", (input_pk,)
    ).fetchone()
    return None if row is None else _stored_input(row)


def rejected_inputs(
    store: Store, limit: int, status: InputStatus = InputStatus.REJECTED
) -> list[StoredInput]:
    """Rejected (or recorded not-a-report) inputs, newest first (a partial index each: the
    status is spelled as a literal, which the planner needs to use a partial index)."""
    literal = {InputStatus.REJECTED: "'rejected'", InputStatus.NOT_REPORT: "'not-report'"}
    rows = store.conn.execute(
        f"SELECT {_INPUT_COLUMNS} FROM raw_inputs WHERE status = {literal[status]}"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [_stored_input(r) for r in rows]


def iter_input_pks(store: Store) -> Iterator[int]:
    """All stored input pks in order, fetched in pages so a huge store stays cheap to walk."""
    last = 0
    while True:
        rows = store.conn.execute(
            "SELECT id FROM raw_inputs WHERE id > ? ORDER BY id LIMIT 1000", (last,)
        ).fetchall()
        if not rows:
            return
        for (pk,) in rows:
            yield int(pk)
        last = int(rows[-1][0])


# --------------------------------------------------------------------------------------------
# Reports


def dedup_who(report: Report) -> str:
    """The first element of ``Report.dedup_key`` (lower-cased organization, else submitter)."""
    return report.dedup_who


def policy_domains_text(report: Report) -> str:
    """Distinct policy domains in report order, comma-joined (the inbox's column)."""
    seen: dict[str, None] = {}
    for p in report.policies:
        if p.policy_domain:
            seen.setdefault(p.policy_domain, None)
    return ", ".join(seen)


def policy_type_label(policy: Policy) -> str:
    if policy.policy_type is PolicyType.OTHER:
        return (policy.policy_type_raw or "other").upper()
    return str(policy.policy_type).upper()


def search_text(report: Report, domains: str | None = None) -> str:
    """Case-folded text the inbox filter searches: organization, domains, ids, submitter, and
    the failures' result types (``/expired``: the certificate-expired reports), so that a
    filter keystroke reads the start index alone, not the failure details (migration 011).
    ``domains``: ``policy_domains_text(report)`` when the caller has it already."""
    return _search_text(report, policy_domains_text(report) if domains is None else domains,
                        {d.result_type.lower() for p in report.policies
                         for d in p.failure_details})


def _search_text(report: Report, domains: str, result_types: set[str]) -> str:
    parts = [report.organization, domains, report.report_id]
    for extra in (report.submitter, report.report_domain, report.contact):
        if extra:
            parts.append(extra)
    if result_types:
        parts += sorted(result_types)
    return "\n".join(parts).casefold()


def find_report(store: Store, report: Report) -> tuple[int, int] | None:
    """(report pk, input pk) of the stored report with the same dedup key, if any."""
    who, rid, start, end = _stored_key(report)
    row = store.conn.execute(
        'SELECT id, input_id FROM reports WHERE dedup_who = ? AND report_id = ? AND start = ?'
        ' AND "end" = ?',
        (who, rid, start, end),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def _stored_key(report: Report) -> tuple[str, str, str, str]:
    return (dedup_who(report), report.report_id, iso_utc(report.start), iso_utc(report.end))


#: SQLite INTEGER is a signed 64-bit value; counts beyond it cannot be stored (or summed).
MAX_COUNT = 2**63 - 1


class Unstorable(ValueError):
    """The store cannot hold this report: a session count or sum beyond 64 bits (the message
    says which)."""


def _too_large(ordinal: int, successful: int, failed: int, detail_sum: int) -> str:
    for name, value in (("total-successful-session-count", successful),
                        ("total-failure-session-count", failed),
                        ("failure-details sum", detail_sum)):
        if not 0 <= value <= MAX_COUNT:
            return f"policies[{ordinal}] {name} {value} is too large to store"
    raise AssertionError("no count of this policy is too large")


#: A report ready to insert: its column values, per policy its row (without the report's pk)
#: with its failure details' rows, and its day-totals shape ``(day, successful, failed,
#: ((policy domain, successful, failed), ...))``. Plain tuples of text and numbers, computed
#: where the report was parsed (a parser process): they pickle back to the writer at a
#: fraction of the cost of the model objects and leave the writer only the statements.
PolicyRows = tuple[tuple[tuple[object, ...], tuple[tuple[object, ...], ...]], ...]
ReportRows = tuple[tuple[object, ...], PolicyRows,
                   tuple[str, int, int, tuple[tuple[str, int, int], ...]]]


def report_rows(report: Report) -> ReportRows:
    """What ``insert_report_rows`` writes for ``report`` (pure: any process); Unstorable when
    a count or sum is beyond what the store can hold.

    One pass over the policies for every column (session sums, domains, types, the search
    text's result types, the policies' rows, the day totals' shape). Why: it runs for every
    report in the parser processes, and a function and a generator per column walked the
    policies six times (bench_import.py's mails: ~106k -> ~98k instructions a report by
    callgrind; timed alone, 30-58 -> 24-36 µs, on a noisy machine)."""
    start = iso_utc(report.start)
    successful = failed = 0
    domains: dict[str, None] = {}
    types: list[str] = []
    result_types: set[str] = set()
    policies: list[tuple[tuple[object, ...], tuple[tuple[object, ...], ...]]] = []
    shapes: list[tuple[str, int, int]] = []
    for ordinal, p in enumerate(report.policies):
        ok, fail = p.successful_sessions, p.failed_sessions
        details: tuple[tuple[object, ...], ...] = ()
        detail_sum = 0
        if p.failure_details:
            rows = []
            for i, d in enumerate(p.failure_details):
                detail_sum += d.failed_session_count
                result_types.add(d.result_type.lower())
                rows.append((i, d.result_type, d.failed_session_count, d.sending_mta_ip,
                             d.receiving_mx_hostname, d.receiving_mx_helo, d.receiving_ip,
                             d.additional_information, d.failure_reason_code))
            details = tuple(rows)
        if not (0 <= ok <= MAX_COUNT and 0 <= fail <= MAX_COUNT
                and 0 <= detail_sum <= MAX_COUNT):
            raise Unstorable(_too_large(ordinal, ok, fail, detail_sum))
        successful += ok
        failed += fail
        if p.policy_domain:
            domains[p.policy_domain] = None
        types.append(policy_type_label(p))
        policies.append(((ordinal, str(p.policy_type), p.policy_type_raw, p.policy_domain,
                          start, json_strings(p.policy_strings), json_strings(p.mx_hosts),
                          ok, fail, detail_sum), details))
        shapes.append((p.policy_domain, ok, fail))
    if successful > MAX_COUNT or failed > MAX_COUNT:
        raise Unstorable("sum of the session counts is too large to store")
    domain_text = ", ".join(domains)
    values = (
        report.organization,
        report.contact,
        report.report_id,
        report.subject_report_id,
        report.report_domain,
        report.submitter,
        report.dedup_who,
        start,
        iso_utc(report.end),
        iso_utc(report.generated_at) if report.generated_at else None,
        json_strings(report.notes),
        successful,
        failed,
        domain_text,
        ", ".join(types),  # upper-case in report order: ``STS, TLSA`` (seed's rule)
        _search_text(report, domain_text, result_types),
    )
    return values, tuple(policies), (start[:10], successful, failed, tuple(shapes))


#: Every new report waits for the alert engine in a row written by the transaction that stores
#: it (migration 010): the engine can then never skip one that commits after reports with
#: higher ids (several writers on PostgreSQL), whoever wrote it.
PENDING_ALERT = "INSERT INTO alert_pending_reports (report_pk) VALUES (?)"


def insert_report(store: Store, report: Report, input_pk: int, input_index: int = 0) -> int | None:
    """Insert a report with its policies; None (and nothing written) when it is a duplicate."""
    return insert_report_rows(store, report_rows(report), input_pk, input_index)


def insert_report_rows(store: Store, rows: ReportRows, input_pk: int,
                       input_index: int = 0) -> int | None:
    """``insert_report`` from the rows ``report_rows`` computed (perhaps in another process)."""
    values, policies, shape = rows
    cur = store.conn.execute(_INSERT_REPORT + " RETURNING id", (*values, input_pk, input_index))
    row = cur.fetchone()
    if row is None:
        return None
    pk = int(row[0])
    _insert_policy_rows(store, pk, policies)
    totals.add(store, totals.ReportShape(*shape), input_pk=input_pk)
    store.conn.execute(PENDING_ALERT, (pk,))
    return pk


_INSERT_REPORT = (
    "INSERT INTO reports (organization, contact, report_id, subject_report_id, report_domain,"
    ' submitter, dedup_who, start, "end", generated_at, notes, successful, failed,'
    " policy_domains, policy_types, search, input_id, input_index)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ' ON CONFLICT (dedup_who, report_id, start, "end") DO NOTHING')


class NewInput(NamedTuple):
    """An input for ``insert_inputs``: its raw_inputs row and the reports to store with it."""

    values: tuple[object, ...]  # raw_input_values()
    #: the verdict decided at arrival (None: keep a stored row's verdict)
    dkim: DkimVerdict | None
    #: (index in the input, rows) of each report the store can hold
    reports: tuple[tuple[int, ReportRows], ...]


#: Ids from here on are not handed out by ``insert_inputs`` (SQLite then picks rowids at
#: random instead of max + 1, and "the rows above the old max" would not be the new ones).
_MAX_BATCH_ID = 2**62


class BatchUnsupported(Exception):
    """A batch path cannot take this batch: the caller rolls back to its SAVEPOINT and
    stores it input by input (``insert_inputs`` raises it before writing anything)."""


def insert_inputs(store: Store, inputs: Sequence[NewInput]) -> list[tuple[int, int]]:
    """SQLite: what ``store_raw_input`` then ``insert_report_rows`` for each report do for
    each input in turn, written with one ``executemany`` per table for the whole batch.
    Returns per input (its raw input's pk, how many of its reports were new).

    Why: one mail cost four statements (the input, the report, its policies, its row for the
    alert engine), each a trip through the sqlite3 module and SQLite's statement machinery;
    the batch now costs a handful per table. The result is the same, row for row and id for
    id: the inputs go in first, in order, with ``ON CONFLICT DO NOTHING`` (ids max + 1 in
    order, as one by one); those that landed are read back by their unique key, the others
    are identical bytes from the same origin stored before (refreshed as ``store_raw_input``
    does); then every report in input order (the first of two with the same dedup key is the
    new one, as one by one), read back by (input, index); then the policies with their ids
    counted from the table's max (the transaction holds the write lock: nobody else inserts),
    their failure details, the alert engine's rows and the day totals. Two inputs with the
    same bytes from the same origin (the second refreshes the first) split the batch in two
    parts written one after the other. Raises the store's errors as the statements do (the
    caller rolls back and stores input by input); ``BatchUnsupported`` before writing
    anything when ids are near the 64-bit limit."""
    for table in ("raw_inputs", "reports", "policies"):
        if _max_id(store, table) >= _MAX_BATCH_ID:
            raise BatchUnsupported(f"{table} ids near the 64-bit limit")
    out: list[tuple[int, int]] = []
    part: list[NewInput] = []
    keys: set[tuple[object, object]] = set()
    for one in inputs:
        key = (one.values[8], one.values[7])  # sha256, origin_key
        if key in keys:
            out += _insert_part(store, part)
            part, keys = [], set()
        keys.add(key)
        part.append(one)
    out += _insert_part(store, part)
    return out


def _max_id(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0)


def _insert_part(store: Store, inputs: Sequence[NewInput]) -> list[tuple[int, int]]:
    """``insert_inputs`` for inputs with distinct (sha256, origin_key)."""
    if not inputs:
        return []
    input_pks, forged = _insert_raw_inputs(store, inputs)
    reports = [(*rows[0], pk, index)
               for one, pk in zip(inputs, input_pks, strict=True) for index, rows in one.reports]
    if not reports:
        return [(pk, 0) for pk in input_pks]
    conn = store.conn
    before = _max_id(store, "reports")
    landed = conn.executemany(_INSERT_REPORT, reports).rowcount
    report_pks: Iterator[int | None]
    if landed == len(reports):  # none was a duplicate: max + 1, max + 2, ... in order
        report_pks = iter(range(before + 1, before + 1 + landed))
    else:
        new_pks = {(int(input_pk), int(index)): int(pk) for pk, input_pk, index in conn.execute(
            "SELECT id, input_id, input_index FROM reports WHERE id > ?", (before,))}
        report_pks = (new_pks.get((row[16], row[17])) for row in reports)  # type: ignore[misc]
    policy_pk = _max_id(store, "policies")
    policy_rows: list[tuple[object, ...]] = []
    detail_rows: list[tuple[object, ...]] = []
    pending: list[tuple[int]] = []
    shapes: list[tuple[totals.ShapeRow, bool]] = []
    out: list[tuple[int, int]] = []
    for one, input_pk, is_forged in zip(inputs, input_pks, forged, strict=True):
        new = 0
        for _, (_, policies, shape) in one.reports:
            report_pk = next(report_pks)
            if report_pk is None:
                continue
            new += 1
            pending.append((report_pk,))
            for policy, details in policies:
                policy_pk += 1
                policy_rows.append((policy_pk, report_pk, *policy))
                if details:
                    detail_rows += [(policy_pk, *d) for d in details]
            shapes.append((shape, is_forged))
        out.append((input_pk, new))
    if policy_rows:
        conn.executemany(_INSERT_POLICY_WITH_ID, policy_rows)
    if detail_rows:
        conn.executemany(_INSERT_DETAIL, detail_rows)
    if pending:
        conn.executemany(PENDING_ALERT, pending)
    totals.add_shapes(store, shapes)
    return out


def _insert_raw_inputs(store: Store,
                       inputs: Sequence[NewInput]) -> tuple[list[int], list[bool]]:
    """The raw inputs of ``_insert_part``: their pks and forged flags (their reports are
    counted under it), in order."""
    before = _max_id(store, "raw_inputs")
    landed = store.conn.executemany(_INSERT_RAW_INPUT, [one.values for one in inputs]).rowcount
    forged = [one.dkim is not None and one.dkim.result == "fail" for one in inputs]
    if landed == len(inputs):  # all new: SQLite gave them max + 1, max + 2, ... in order
        input_pks = list(range(before + 1, before + 1 + landed))
        totals.note_forged_many(store, zip(input_pks, forged, strict=True))
        return input_pks, forged
    # some are stored already: which landed, by their unique key
    new_pks = {(bytes(sha), key): int(pk) for pk, sha, key in store.conn.execute(
        "SELECT id, sha256, origin_key FROM raw_inputs WHERE id > ?", (before,))}
    input_pks = []
    for n, one in enumerate(inputs):
        pk = new_pks.get((one.values[8], one.values[7]))  # type: ignore[arg-type]
        if pk is None:
            pk = _refresh_raw_input(store, one.values, one.dkim)
            forged[n] = totals.forged_of(store, pk)  # the stored verdict unless a new one
        else:
            totals.note_forged(store, pk, forged[n])
        input_pks.append(pk)
    return input_pks, forged


#: ``PG_NEW_MAILS``' arrays (one per column, ``name type``): an input's raw_inputs row
#: (``_RAW_INPUT_COLUMNS``), its report's values (``_report_values``) and index; each policy
#: row (``_policy_rows``) after its mail's number (from 1); each failure detail row after its
#: mail's number and its policy's ordinal.
_PG_MAIL_COLUMNS = (
    "source text", "origin_kind text", "origin_path text", "origin_account text",
    "origin_folder text", "origin_uidvalidity bigint", "origin_uid bigint", "origin_key text",
    "sha256 bytea", "size bigint", "data_zlib bytea", "received_at text", "imported_at text",
    "status text", "error text", "part_errors text", "parser_version text", "dkim_result text",
    "dkim_domain text", "dkim_selector text", "dkim_aligned integer", "dkim_authserv text",
    "organization text", "contact text", "report_id text", "subject_report_id text",
    "report_domain text", "submitter text", "dedup_who text", "start text", '"end" text',
    "generated_at text", "notes text", "successful bigint", "failed bigint",
    "policy_domains text", "policy_types text", "search text", "input_index integer")
_PG_POLICY_COLUMNS = (
    "n bigint", "ordinal integer", "policy_type text", "policy_type_raw text",
    "policy_domain text", "start text", "policy_strings text", "mx_hosts text",
    "successful bigint", "failed bigint", "detail_failed bigint")
_PG_DETAIL_COLUMNS = (
    "n bigint", "po integer", "ordinal integer", "result_type text",
    "failed_session_count bigint", "sending_mta_ip text", "receiving_mx_hostname text",
    "receiving_mx_helo text", "receiving_ip text", "additional_information text",
    "failure_reason_code text")


def _unnest(columns: Sequence[str], alias: str, number: str) -> str:
    """``unnest`` of one array parameter per column, each row numbered (``number``) in order.
    The arrays travel in binary (``%b``): psycopg writes a list of bytes as text a hundred
    times slower, escaping every byte."""
    arrays = ", ".join(f"%b::{c.split()[1]}[]" for c in columns)
    return f"unnest({arrays}) WITH ORDINALITY AS {alias} ({_names(columns)}, {number})"


def _names(columns: Sequence[str], alias: str = "") -> str:
    return ", ".join(alias + c.split()[0] for c in columns)


#: each parameter's element type, in order
_PG_COLUMN_TYPES = tuple(c.split()[1] for c in (
    *_PG_MAIL_COLUMNS, *_PG_POLICY_COLUMNS, *_PG_DETAIL_COLUMNS))
_PG_REPORT_NAMES = _names(_PG_MAIL_COLUMNS[22:38])  # the first 22 are _RAW_INPUT_COLUMNS

#: PostgreSQL: new inputs, each with its one report, the reports' policies and their failure
#: details and the reports' rows for the alert engine (as PENDING_ALERT), for a whole batch
#: in ONE statement of data-modifying CTEs fed by arrays, one per column (``unnest``), so that
#: the server runs five inserts (and the change feed's statement triggers once) per batch,
#: not per mail. The inputs are inserted in their order; the reports in the order of their
#: dedup key, then of their input (of two inputs holding the same report the first one's is
#: the new one, as input by input; and two writers storing the same reports take their locks
#: in the same order, so they never wait for each other in a cycle). The inputs' ids map
#: back by their unique key (distinct within a batch), the reports' by their input. Returns
#: per input that landed (its number from 1, its id, its report's id or NULL when the report
#: is a duplicate); an input that did not land was stored already (nothing is written for
#: it: the caller takes the ordinary path).
PG_NEW_MAILS = (
    f"WITH u AS MATERIALIZED (SELECT * FROM {_unnest(_PG_MAIL_COLUMNS, 'u', 'n')}),"
    f" i AS (INSERT INTO raw_inputs ({_RAW_INPUT_COLUMNS}) SELECT {_RAW_INPUT_COLUMNS} FROM u"
    " ORDER BY n"
    " ON CONFLICT (sha256, origin_key) DO NOTHING RETURNING id, sha256, origin_key),"
    " ui AS MATERIALIZED (SELECT u.n, i.id FROM i JOIN u USING (sha256, origin_key)),"
    f" r AS (INSERT INTO reports ({_PG_REPORT_NAMES}, input_id, input_index)"
    f" SELECT {_names(_PG_MAIL_COLUMNS[22:38], 'u.')}, ui.id, u.input_index"
    ' FROM u JOIN ui USING (n) ORDER BY u.dedup_who, u.report_id, u.start, u."end", u.n'
    ' ON CONFLICT (dedup_who, report_id, start, "end") DO NOTHING RETURNING id, input_id),'
    " ur AS MATERIALIZED (SELECT ui.n, r.id FROM r JOIN ui ON ui.id = r.input_id),"
    f" p AS (INSERT INTO policies (report_pk, {_names(_PG_POLICY_COLUMNS[1:])})"
    f" SELECT ur.id, {_names(_PG_POLICY_COLUMNS[1:], 'pu.')}"
    f" FROM {_unnest(_PG_POLICY_COLUMNS, 'pu', 'k')} JOIN ur USING (n) ORDER BY pu.k"
    " RETURNING id, report_pk, ordinal),"
    f" d AS (INSERT INTO failure_details (policy_pk, {_names(_PG_DETAIL_COLUMNS[2:])})"
    f" SELECT p.id, {_names(_PG_DETAIL_COLUMNS[2:], 'du.')}"
    f" FROM {_unnest(_PG_DETAIL_COLUMNS, 'du', 'k')} JOIN ur USING (n)"
    " JOIN p ON p.report_pk = ur.id AND p.ordinal = du.po ORDER BY du.k),"
    " q AS (INSERT INTO alert_pending_reports (report_pk) SELECT id FROM r ORDER BY id)"
    " SELECT ui.n, ui.id, ur.id FROM ui LEFT JOIN ur USING (n)"
)


@dataclass(frozen=True, slots=True)
class NewMail:
    """An input to store with its one report (``insert_new_mails``)."""

    raw_values: tuple[object, ...]  # raw_input_values()
    rows: ReportRows  # report_rows()
    input_index: int
    forged: bool


def _columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """The rows' columns, as lists (psycopg sends a list as an array)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _new_mails_params(mails: Sequence[NewMail]) -> list[list[object]]:
    """``PG_NEW_MAILS``' parameters: one array per column of the inputs and their reports,
    of the policies (each with its mail's number) and of the failure details; text without
    NUL (``storable_texts``)."""
    from tlsrpt_tui.store.postgres import storable_texts

    policies: list[tuple[object, ...]] = []
    details: list[tuple[object, ...]] = []
    for n, mail in enumerate(mails, 1):
        for policy, detail_rows in mail.rows[1]:
            policies.append((n, *policy))
            if detail_rows:
                ordinal = policy[0]
                details += [(n, ordinal, *d) for d in detail_rows]
    columns = [*_columns([(*m.raw_values, *m.rows[0], m.input_index) for m in mails],
                         len(_PG_MAIL_COLUMNS)),
               *_columns(policies, len(_PG_POLICY_COLUMNS)),
               *_columns(details, len(_PG_DETAIL_COLUMNS))]
    return [storable_texts(values) if kind == "text" else values
            for values, kind in zip(columns, _PG_COLUMN_TYPES, strict=True)]


def insert_new_mails(store: Store, mails: Sequence[NewMail]) -> list[tuple[int | None, int | None]]:
    """PostgreSQL: store new inputs, each with its one report, with one statement for them all
    (``PG_NEW_MAILS``). Gives per input (its id, its report's id): no input id when identical
    bytes from the same origin are stored already (nothing was written for it), no report id
    when the report is a duplicate; the new reports are counted in the day totals.

    Why: a statement per mail (even pipelined) cost the server five inserts' start-up, a
    plan, two change-feed triggers and JSON parsing per mail, and the writer waited for it;
    per batch the server's work is the rows themselves.

    The statement is planned afresh each time (never prepared) and without nested loops:
    prepared, psycopg's fifth call on and PostgreSQL's generic plan from the tenth, it was
    planned for arrays of unknown length and joined the CTEs by nested loops, which doubled
    the server's CPU a mail from a sync's eleventh batch on (0.12 → 0.26 ms); the joins of
    the CTEs are estimated at one row whatever the arrays hold, so even planned afresh a
    batch of 200 (``import``'s parts) took nested loops (0.17–0.21 ms a mail, 0.14 without).
    ``SET LOCAL`` keeps the setting to this statement: a failed one is rolled back with its
    savepoint or transaction, setting included."""
    if not mails:
        return []
    raw = store.conn.raw  # type: ignore[attr-defined]
    raw.execute("SET LOCAL enable_nestloop = off")
    rows = raw.execute(PG_NEW_MAILS, _new_mails_params(mails), prepare=False).fetchall()
    raw.execute("SET LOCAL enable_nestloop TO DEFAULT")
    found = {int(n): (int(input_pk), None if report_pk is None else int(report_pk))
             for n, input_pk, report_pk in rows}
    out: list[tuple[int | None, int | None]] = []
    shapes: list[tuple[totals.ShapeRow, bool]] = []
    forged: list[tuple[int, bool]] = []
    for n, mail in enumerate(mails, 1):
        input_pk, report_pk = found.get(n, (None, None))
        if input_pk is not None:
            forged.append((input_pk, mail.forged))
        if report_pk is not None:
            shapes.append((mail.rows[2], mail.forged))
        out.append((input_pk, report_pk))
    totals.note_forged_many(store, forged)
    totals.add_shapes(store, shapes)
    return out


_REPORT_VALUE_COLUMNS = (
    'organization, contact, report_id, subject_report_id, report_domain, submitter, dedup_who,'
    ' start, "end", generated_at, notes, successful, failed, policy_domains, policy_types, search'
)


def _is_current(store: Store, report_pk: int, report: Report, values: tuple[object, ...],
                input_index: int) -> bool:
    """True when the stored rows are exactly what ``report`` would write (nothing to redo);
    ``values``: its report row (``report_rows(report)[0]``)."""
    row = store.conn.execute(
        f"SELECT {_REPORT_VALUE_COLUMNS}, input_index FROM reports WHERE id = ?", (report_pk,)
    ).fetchone()
    if row is None or tuple(row) != (*values, input_index):
        return False
    loaded = load_report(store, report_pk)
    return loaded is not None and loaded[0] == report and _policy_extras_current(
        store, report_pk, report
    )


def _policy_extras_current(store: Store, report_pk: int, report: Report) -> bool:
    """The policy columns load_report does not read back (denormalised start, detail sum)."""
    rows = store.conn.execute(
        "SELECT start, detail_failed FROM policies WHERE report_pk = ? ORDER BY ordinal",
        (report_pk,),
    ).fetchall()
    start = iso_utc(report.start)
    return [tuple(r) for r in rows] == [(start, p.detail_failed_sum) for p in report.policies]


def replace_report(store: Store, report_pk: int, report: Report, input_index: int = 0) -> bool:
    """Re-derive a stored report in place (same pk) from a fresh parse: used by reparse.

    Returns False (and writes nothing) when the stored rows already match, so a re-parse with
    an unchanged parser keeps every pk, policies' included."""
    values, policies, _ = report_rows(report)  # once for the comparison and the writes
    if _is_current(store, report_pk, report, values, input_index):
        return False
    totals.remove_stored(store, [report_pk])
    store.conn.execute(
        "UPDATE reports SET organization = ?, contact = ?, report_id = ?, subject_report_id = ?,"
        ' report_domain = ?, submitter = ?, dedup_who = ?, start = ?, "end" = ?,'
        " generated_at = ?, notes = ?, successful = ?, failed = ?, policy_domains = ?,"
        " policy_types = ?, search = ?, input_index = ? WHERE id = ?",
        (*values, input_index, report_pk),
    )
    store.conn.execute("DELETE FROM policies WHERE report_pk = ?", (report_pk,))
    _insert_policy_rows(store, report_pk, policies)
    totals.add_stored(store, [report_pk])
    return True


def delete_reports(store: Store, report_pks: Iterable[int]) -> None:
    pks = list(report_pks)
    totals.remove_stored(store, pks)
    store.conn.executemany("DELETE FROM reports WHERE id = ?", [(pk,) for pk in pks])


def report_pks_of_input(store: Store, input_pk: int) -> list[int]:
    return [
        int(r[0])
        for r in store.conn.execute(
            "SELECT id FROM reports WHERE input_id = ? ORDER BY id", (input_pk,)
        )
    ]


def json_strings(items: Sequence[str]) -> str:
    """``json.dumps(list(items))`` for strings, the same text for a third of its cost: three
    lists a report (its notes, each policy's strings and MX hosts) in every parser process.
    Each string is quoted by the C function ``json.dumps`` itself quotes with."""
    try:
        return "[" + ", ".join(map(_json_quote, items)) + "]"
    except TypeError:  # not all strings: json.dumps says how it spells them
        return json.dumps(list(items))


_INSERT_POLICY = (
    "INSERT INTO policies (report_pk, ordinal, policy_type, policy_type_raw,"
    " policy_domain, start, policy_strings, mx_hosts, successful, failed, detail_failed)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_POLICY_WITH_ID = (
    "INSERT INTO policies (id, report_pk, ordinal, policy_type, policy_type_raw,"
    " policy_domain, start, policy_strings, mx_hosts, successful, failed, detail_failed)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_DETAIL = (
    "INSERT INTO failure_details (policy_pk, ordinal, result_type,"
    " failed_session_count, sending_mta_ip, receiving_mx_hostname,"
    " receiving_mx_helo, receiving_ip, additional_information, failure_reason_code)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _insert_policy_rows(store: Store, report_pk: int, policies: PolicyRows) -> None:
    """The policies of one report; those without failure details (most) in one
    ``executemany``, since no detail row needs their pk."""
    conn = store.conn
    if not any(details for _, details in policies):
        conn.executemany(_INSERT_POLICY, [(report_pk, *policy) for policy, _ in policies])
        return
    for policy, details in policies:
        policy_pk = conn.execute(_INSERT_POLICY + " RETURNING id",
                                 (report_pk, *policy)).fetchone()[0]
        if details:
            conn.executemany(_INSERT_DETAIL, [(policy_pk, *d) for d in details])


# --------------------------------------------------------------------------------------------
# Loading reports back


def _policy_type(value: str) -> PolicyType:
    try:
        return PolicyType(value)
    except ValueError:
        return PolicyType.OTHER


def load_report(store: Store, report_pk: int) -> tuple[Report, int] | None:
    """The stored report rebuilt as a model object, and its input pk."""
    row = store.conn.execute(
        'SELECT id, input_id, organization, contact, report_id, subject_report_id, report_domain,'
        ' submitter, start, "end", generated_at, notes FROM reports WHERE id = ?',
        (report_pk,),
    ).fetchone()
    if row is None:
        return None
    policies: list[Policy] = []
    prows = store.conn.execute(
        "SELECT id, policy_type, policy_type_raw, policy_domain, policy_strings, mx_hosts,"
        " successful, failed FROM policies WHERE report_pk = ? ORDER BY ordinal",
        (report_pk,),
    ).fetchall()
    for p in prows:
        details = tuple(
            FailureDetail(
                result_type=d["result_type"],
                failed_session_count=d["failed_session_count"],
                sending_mta_ip=d["sending_mta_ip"],
                receiving_mx_hostname=d["receiving_mx_hostname"],
                receiving_mx_helo=d["receiving_mx_helo"],
                receiving_ip=d["receiving_ip"],
                additional_information=d["additional_information"],
                failure_reason_code=d["failure_reason_code"],
            )
            for d in store.conn.execute(
                "SELECT * FROM failure_details WHERE policy_pk = ? ORDER BY ordinal", (p["id"],)
            )
        )
        policies.append(
            Policy(
                policy_type=_policy_type(p["policy_type"]),
                policy_type_raw=p["policy_type_raw"],
                policy_domain=p["policy_domain"],
                policy_strings=tuple(json.loads(p["policy_strings"])),
                mx_hosts=tuple(json.loads(p["mx_hosts"])),
                successful_sessions=p["successful"],
                failed_sessions=p["failed"],
                failure_details=details,
            )
        )
    report = Report(
        organization=row["organization"],
        contact=row["contact"],
        report_id=row["report_id"],
        start=datetime.fromisoformat(row["start"]),
        end=datetime.fromisoformat(row["end"]),
        policies=tuple(policies),
        subject_report_id=row["subject_report_id"],
        report_domain=row["report_domain"],
        submitter=row["submitter"],
        generated_at=parse_iso(row["generated_at"]),
        notes=tuple(json.loads(row["notes"] or "[]")),
    )
    return report, int(row["input_id"])


def counts(store: Store) -> dict[str, int]:
    """Row counts of the report tables (for tests, status lines and the bench)."""
    out: dict[str, int] = {}
    for table in ("raw_inputs", "reports", "policies", "failure_details"):
        out[table] = int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    return out
