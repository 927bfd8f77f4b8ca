"""Read-side use cases over the report store: the three tables, the inbox and the totals.

The CLI and the TUI both call these; nothing here opens a transaction or writes. Queries read
the denormalised columns (report sums, policy domains/types, the case-folded search text) so
that paging and filtering an inbox of 100,000s of reports stays within tens of milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, TypeVar

from tlsrpt_tui.core import tables
from tlsrpt_tui.core.model import DKIM_RESULTS, DkimVerdict, InputStatus, Report
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store

T = TypeVar("T")

#: Rows fetched per round trip when streaming table rows.
_FETCH = 1000


@dataclass(frozen=True, slots=True)
class TableFilter:
    """Filters of the three tables: domain matches a policy domain (case-insensitive, a trailing
    dot ignored); since/until are inclusive on the report's start date (UTC)."""

    domain: str | None = None
    since: date | None = None
    until: date | None = None
    #: the TUI's choices (the CLI keeps the defaults): `domain` as a part of the policy
    #: domain ("net" finds example.net), and the newest rows first
    domain_substring: bool = False
    newest_first: bool = False
    #: only the rows with failed sessions (the TUI's "only failing" toggle)
    only_failing: bool = False

    def domain_clause(self, column: str) -> tuple[str, str]:
        """SQL comparing `column` with the domain filter, and its parameter."""
        if self.domain_substring:
            return f"instr({column}, ?) > 0", normalise_domain(self.domain or "")
        return f"{column} = ?", normalise_domain(self.domain or "")

    def order(self, *terms: str) -> str:
        """ `` ORDER BY`` the terms, each descending when newest first."""
        suffix = " DESC" if self.newest_first else ""
        return " ORDER BY " + ", ".join(t + suffix for t in terms)


def normalise_domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _report_where(flt: TableFilter, alias: str = "r") -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if flt.since is not None:
        clauses.append(f"{alias}.start >= ?")
        params.append(flt.since.isoformat())
    if flt.until is not None:
        clauses.append(f"{alias}.start < ?")
        params.append((flt.until + timedelta(days=1)).isoformat())
    if flt.only_failing:
        clauses.append(f"{alias}.failed > 0")
    return (" AND ".join(clauses), params)


def _stream(store: Store, sql: str, params: list[object]) -> Iterator:  # type: ignore[type-arg]
    return store.stream(sql, params, _FETCH)


_OVERVIEW_COLUMNS = (
    "r.start, r.organization, r.report_id, r.contact, r.policy_types, r.successful, r.failed,"
    " r.id, r.policy_domains"
)


def _overview_sql(flt: TableFilter, select: str) -> tuple[str, list[object]]:
    where, params = _report_where(flt)
    clauses = [where] if where else []
    if flt.domain:
        clause, value = flt.domain_clause("policy_domain")
        clauses.append(f"r.id IN (SELECT report_pk FROM policies WHERE {clause})")
        params.append(value)
    sql = (
        f"SELECT {select} FROM reports r"
        + (" WHERE " + " AND ".join(clauses) if clauses else "")
        + flt.order("substr(r.start, 1, 10)", "r.id")
    )
    return sql, params


def _overview_row(row: Sequence) -> tables.OverviewRow:  # type: ignore[type-arg]
    return tables.OverviewRow(
        date=row[0][:10],
        organization=row[1],
        report_id=row[2],
        contact=row[3] or "",
        policy_types=row[4],
        successful=row[5],
        failed=row[6],
        report_pk=row[7],
        policy_domains=row[8],
    )


def overview_rows(store: Store, flt: TableFilter | None = None) -> Iterator[tables.OverviewRow]:
    """One row per report (sums over all its policies), by date then report order. With a domain
    filter: the reports that have a policy for that domain."""
    sql, params = _overview_sql(flt or TableFilter(), _OVERVIEW_COLUMNS)
    for row in _stream(store, sql, params):
        yield _overview_row(row)


def overview_keys(store: Store, flt: TableFilter | None = None) -> Iterator[tuple[int, int, int]]:
    """(report pk, successful, failed) for each row of overview_rows(flt), in the same order.

    A front that pages through 100,000s of rows keeps only these (and sums its Total from
    them), then builds the rows of the page on screen with overview_rows_by_key."""
    sql, params = _overview_sql(flt or TableFilter(), "r.id, r.successful, r.failed")
    yield from _stream(store, sql, params)


def overview_rows_by_key(store: Store, keys: Sequence[int]) -> list[tables.OverviewRow]:
    """The overview rows of these report pks, in the order given (missing ones left out)."""
    select = f"SELECT {_OVERVIEW_COLUMNS} FROM reports r WHERE r.id"
    return _rows_by_key(store, keys, select, 7, _overview_row)


def _rows_by_key(store: Store, keys: Sequence[int], select: str, key_column: int,
                 build: Callable[[Sequence], T]) -> list[T]:  # type: ignore[type-arg]
    """Rows for ``keys`` in the order given: ``select`` ends in the key column, to which
    ``IN (…)`` is added in chunks (SQLite caps the bound parameters of one statement)."""
    found: dict[int, T] = {}
    for chunk in range(0, len(keys), 500):
        part = list(keys[chunk:chunk + 500])
        sql = f"{select} IN ({','.join('?' * len(part))})"
        for row in store.conn.execute(sql, part):
            found[row[key_column]] = build(row)
    return [found[k] for k in keys if k in found]


def _policy_where(flt: TableFilter) -> tuple[str, list[object]]:
    where, params = _report_where(flt, "p")  # a policy's start is its report's
    clauses = [where] if where else []
    if flt.domain:
        clause, value = flt.domain_clause("p.policy_domain")
        clauses.append(clause)
        params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else "", params)


_POLICY_COLUMNS = (
    "r.start, r.organization, p.policy_domain, p.policy_type, p.policy_type_raw,"
    " p.policy_strings, p.mx_hosts, p.successful, p.failed, r.id, p.ordinal, p.id"
)
_POLICY_FROM = " FROM policies p JOIN reports r ON r.id = p.report_pk"
#: by the policies' own copy of the report's start and pk, so the policies_day index gives the
#: order (the keys then need no join at all); descending when newest first (TableFilter.order)
_POLICY_ORDER_TERMS = ("substr(p.start, 1, 10)", "p.report_pk", "p.ordinal")
_POLICY_ORDER = TableFilter().order(*_POLICY_ORDER_TERMS)


def _policy_row(row: Sequence) -> tables.PolicyRow:  # type: ignore[type-arg]
    return tables.PolicyRow(
        date=row[0][:10],
        organization=row[1],
        policy_domain=row[2],
        policy_type=tables.type_label(row[3], row[4]),
        policy_details=tables.policy_details(row[3], json.loads(row[5]), json.loads(row[6])),
        successful=row[7],
        failed=row[8],
        report_pk=row[9],
        policy_index=row[10],
    )


def policy_rows(store: Store, flt: TableFilter | None = None) -> Iterator[tables.PolicyRow]:
    """One row per policy, by date then report order then the policy's place in the report."""
    flt = flt or TableFilter()
    where, params = _policy_where(flt)
    sql = f"SELECT {_POLICY_COLUMNS}" + _POLICY_FROM + where + flt.order(*_POLICY_ORDER_TERMS)
    for row in _stream(store, sql, params):
        yield _policy_row(row)


def policy_keys(store: Store, flt: TableFilter | None = None) -> Iterator[tuple[int, int, int]]:
    """(policy pk, successful, failed) for each row of policy_rows(flt), in the same order
    (see overview_keys)."""
    flt = flt or TableFilter()
    where, params = _policy_where(flt)
    order = flt.order(*_POLICY_ORDER_TERMS)
    sql = "SELECT p.id, p.successful, p.failed FROM policies p" + where + order
    yield from _stream(store, sql, params)


def table_key_sql(kind: str, flt: TableFilter | None = None) -> tuple[str, list[object]]:
    """The keys alone of the Overview ("overview"), Policy Summary ("policies") or Failures
    ("failures": failure detail ids) in table order (the order index covers the first two:
    nothing is sorted)."""
    flt = flt or TableFilter()
    if kind == "overview":
        return _overview_sql(flt, "r.id")
    if kind == "failures":
        return _failure_keys_sql(flt, "d.id")
    where, params = _policy_where(flt)
    return "SELECT p.id FROM policies p" + where + flt.order(*_POLICY_ORDER_TERMS), params


def table_key_cursor(store: Store, kind: str, flt: TableFilter | None = None) -> Any:
    """A cursor over table_key_sql's rows: a front takes them in runs with ``fetchmany``
    (tuples built in C; 1,000,000 keys through a generator per row held the GIL for
    seconds, which the screen's own reads then waited for)."""
    sql, params = table_key_sql(kind, flt)
    return store.conn.execute(sql, params)


def policy_rows_by_key(store: Store, keys: Sequence[int]) -> list[tables.PolicyRow]:
    """The policy rows of these policy pks, in the order given (missing ones left out)."""
    select = f"SELECT {_POLICY_COLUMNS}{_POLICY_FROM} WHERE p.id"
    return _rows_by_key(store, keys, select, 11, _policy_row)


_FAILURE_COLUMNS = (
    "r.start, r.organization, p.policy_domain, p.policy_type, p.policy_type_raw,"
    " d.result_type, d.sending_mta_ip, d.receiving_mx_hostname, d.receiving_ip,"
    " d.failed_session_count, d.failure_reason_code, r.id, p.ordinal, d.ordinal, d.id"
)
_FAILURE_FROM = (" FROM failure_details d JOIN policies p ON p.id = d.policy_pk"
                 " JOIN reports r ON r.id = p.report_pk")
_FAILURE_ORDER_TERMS = ("substr(p.start, 1, 10)", "p.report_pk", "p.ordinal", "d.ordinal")


def _failure_row(row: Sequence) -> tables.FailureRow:  # type: ignore[type-arg]
    return tables.FailureRow(
        date=row[0][:10],
        organization=row[1],
        policy_domain=row[2],
        policy_type=tables.type_label(row[3], row[4]),
        result_type=row[5],
        sending_mta_ip=row[6] or "",
        receiving_mx_hostname=row[7] or "",
        receiving_ip=row[8] or "",
        failed=row[9],
        failure_reason_code=row[10] or "",
        report_pk=row[11],
        policy_index=row[12],
        detail_index=row[13],
    )


def failure_rows(store: Store, flt: TableFilter | None = None) -> Iterator[tables.FailureRow]:
    """One row per failure detail, by date, report order, policy order, detail order."""
    flt = flt or TableFilter()
    where, params = _policy_where(replace(flt, only_failing=False))  # every detail fails
    sql = (f"SELECT {_FAILURE_COLUMNS}{_FAILURE_FROM}{where}"
           + flt.order(*_FAILURE_ORDER_TERMS))
    for row in _stream(store, sql, params):
        yield _failure_row(row)


def _failure_keys_sql(flt: TableFilter, select: str) -> tuple[str, list[object]]:
    where, params = _policy_where(replace(flt, only_failing=False))  # every detail fails
    return (f"SELECT {select} FROM policies p JOIN failure_details d ON d.policy_pk = p.id"
            + where + flt.order(*_FAILURE_ORDER_TERMS)), params


def failure_keys(store: Store, flt: TableFilter | None = None) -> Iterator[tuple[int, int, int]]:
    """(failure detail pk, 0, failed sessions) for each row of failure_rows(flt), in the same
    order (see overview_keys)."""
    sql, params = _failure_keys_sql(flt or TableFilter(), "d.id, 0, d.failed_session_count")
    yield from _stream(store, sql, params)


def failure_rows_by_key(store: Store, keys: Sequence[int]) -> list[tables.FailureRow]:
    """The failure rows of these failure detail pks, in the order given."""
    select = f"SELECT {_FAILURE_COLUMNS}{_FAILURE_FROM} WHERE d.id"
    return _rows_by_key(store, keys, select, 14, _failure_row)


TABLE_QUERIES = {
    "overview": overview_rows,
    "policies": policy_rows,
    "failures": failure_rows,
}


# --------------------------------------------------------------------------------------------
# Inbox


@dataclass(frozen=True, slots=True)
class InboxRow:
    pk: int
    date: str  # YYYY-MM-DD (UTC start date)
    start: str  # ISO UTC start datetime
    organization: str
    report_id: str
    policy_domains: str  # "a.example, b.example"
    policy_types: str  # "STS, TLSA"
    successful: int
    failed: int
    #: The DKIM verdict of the mail the report came in (None: not mail, or not verified).
    dkim: DkimVerdict | None = None

    @property
    def forged(self) -> bool:
        """The signature did not match: the report's figures are not to be believed."""
        return self.dkim is not None and self.dkim.result == "fail"


#: ``dkim:RESULT`` in an inbox filter selects by the DKIM verdict (``dkim:unknown``: none).
DKIM_FILTER_VALUES = (*DKIM_RESULTS, "unknown")
_DKIM_TOKEN = re.compile(r"(?:^|\s)dkim:(\S*)", re.IGNORECASE)
#: ``only:failing`` in an inbox filter keeps the reports with failed sessions (the TUI's x)
ONLY_FAILING = "only:failing"
_FAILING_TOKEN = re.compile(r"(?:^|\s)only:failing(?=\s|$)", re.IGNORECASE)


def _text_clause(text_filter: str | None) -> tuple[str, list[object]]:
    """A WHERE condition (no ``WHERE``) for an inbox filter: a case-insensitive substring of
    the report's search text (its failures' result types included), and/or ``dkim:RESULT``; ("", [])
    for no filter.

    An unknown ``dkim:`` value matches nothing (rather than everything), so a typo shows an
    empty inbox instead of a reassuring full one."""
    text = text_filter or ""
    clauses: list[str] = []
    params: list[object] = []
    for m in _DKIM_TOKEN.finditer(text):
        value = m.group(1).lower()
        if value == "unknown":
            clauses.append("input_id IN (SELECT id FROM raw_inputs WHERE dkim_result IS NULL)")
        else:
            clauses.append("input_id IN (SELECT id FROM raw_inputs WHERE dkim_result = ?)")
            params.append(value if value in DKIM_RESULTS else "(no such result)")
    if _FAILING_TOKEN.search(text):
        clauses.append("failed > 0")
        text = _FAILING_TOKEN.sub(" ", text)
    needle = _DKIM_TOKEN.sub(" ", text).strip().casefold()
    if needle:
        # the search text holds the failures' result types too (store.reports.search_text)
        clauses.insert(0, "instr(search, ?) > 0")
        params.insert(0, needle)
    return " AND ".join(clauses), params


def inbox_page(
    store: Store, *, offset: int = 0, limit: int = 50, text_filter: str | None = None,
    after: tuple[str, int] | None = None, oldest_first: bool = False,
) -> list[InboxRow]:
    """A page of the inbox, newest first (start DESC, pk DESC; ``oldest_first``: the other
    way, the same index read backwards).

    ``text_filter`` is a case-insensitive substring of organization, policy domains, report-id,
    submitter, report domain, contact or a failure's result type, and may hold
    ``dkim:RESULT`` (pass, fail, none, temperror, permerror, unknown) and ``only:failing``
    (reports with failed sessions). ``after`` is the
    (start, pk) of the last row already shown: the page continues below it (keyset paging:
    the next page costs ``limit`` rows of the start index however deep it is, where an
    ``offset`` costs that many rows more). Each row's DKIM verdict is one primary-key look-up
    of its input.
    """
    where, params = _text_clause(text_filter)
    clauses = [where] if where else []
    order, below = ("ASC", ">") if oldest_first else ("DESC", "<")
    if after is not None:
        clauses.append(f"(start, id) {below} (?, ?)")
        params += [after[0], after[1]]
    rows = store.conn.execute(
        "SELECT p.*, i.dkim_result, i.dkim_domain, i.dkim_selector, i.dkim_aligned,"
        " i.dkim_authserv FROM (SELECT id, start, organization, report_id, policy_domains,"
        " policy_types, successful, failed, input_id FROM reports"
        + (" WHERE " + " AND ".join(clauses) if clauses else "")
        + f" ORDER BY start {order}, id {order} LIMIT ? OFFSET ?) p"
        f" JOIN raw_inputs i ON i.id = p.input_id ORDER BY p.start {order}, p.id {order}",
        [*params, max(0, limit), max(0, offset)],
    ).fetchall()
    return [
        InboxRow(
            pk=r[0], date=r[1][:10], start=r[1], organization=r[2], report_id=r[3],
            policy_domains=r[4], policy_types=r[5], successful=r[6], failed=r[7],
            dkim=db.dkim_from_row(r[9], r[10], r[11], r[12], r[13]),
        )
        for r in rows
    ]


def inbox_count(store: Store, text_filter: str | None = None) -> int:
    where, params = _text_clause(text_filter)
    sql = "SELECT count(*) FROM reports" + (" WHERE " + where if where else "")
    return int(store.conn.execute(sql, params).fetchone()[0])


def forged_report_pks(store: Store, report_pks: Iterable[int]) -> set[int]:
    """Which of these reports came in mail whose DKIM signature failed (forged or altered)."""
    pks = list(report_pks)
    out: set[int] = set()
    for i in range(0, len(pks), 500):
        chunk = pks[i : i + 500]
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in store.conn.execute(
            f"SELECT r.id FROM reports r JOIN raw_inputs i ON i.id = r.input_id"
            f" WHERE r.id IN ({marks}) AND i.dkim_result = 'fail'", chunk))
    return out


def report_detail(store: Store, report_pk: int) -> tuple[Report, db.StoredInput] | None:
    """The report as a model object and the raw input it came from (None if no such report)."""
    loaded = db.load_report(store, report_pk)
    if loaded is None:
        return None
    report, input_pk = loaded
    meta = db.get_input(store, input_pk)
    assert meta is not None  # FK guarantees it
    return report, meta


def raw_input_bytes(store: Store, input_pk: int) -> bytes | None:
    """The bytes of a stored input as received (the Raw screen)."""
    return db.raw_bytes(store, input_pk)


@dataclass(frozen=True, slots=True)
class UnreadableInput:
    pk: int
    source: str
    imported_at: str
    error: str


def unreadable_inputs(
    store: Store, limit: int = 100, *, other: bool = False
) -> list[UnreadableInput]:
    """Stored inputs that could not be read (``other``: mail recorded as not a report),
    newest first, with their one-line reason."""
    status = InputStatus.NOT_REPORT if other else InputStatus.REJECTED
    return [
        UnreadableInput(i.pk, i.source, i.imported_at, i.error or str(status))
        for i in db.rejected_inputs(store, limit, status)
    ]


#: the inbox export's columns: the counts by name, an unreadable input's reason and file apart
INBOX_EXPORT_COLUMNS = ("Date", "Organization", "Domain", "Types", "Successful", "Failed",
                        "Unreadable", "Source")


def inbox_export_rows(store: Store, text_filter: str | None = None,
                      chunk: int = 1000) -> Iterator[list[object]]:
    """Every inbox line matching the filter, as the TUI lists them (unreadable inputs first,
    with a filter also the mail recorded as not a report, then the reports newest first), in
    INBOX_EXPORT_COLUMNS; read ``chunk`` reports at a time (keyset), never all at once."""
    needle = (text_filter or "").strip().casefold()
    found = unreadable_inputs(store, limit=2**31)
    if needle:
        found += unreadable_inputs(store, limit=2**31, other=True)
    for u in found:
        if not needle or needle in f"{u.source} {u.error}".casefold():
            yield [str(u.imported_at)[:10], "", "", "", "", "", u.error, u.source]
    after: tuple[str, int] | None = None
    while True:
        page = inbox_page(store, limit=chunk, text_filter=needle or None, after=after)
        for r in page:
            yield [r.date, r.organization, r.policy_domains, r.policy_types, r.successful,
                   r.failed, "", ""]
        if len(page) < chunk:
            return
        after = (page[-1].start, page[-1].pk)


def unreadable_count(store: Store, *, other: bool = False) -> int:
    status = "'not-report'" if other else "'rejected'"  # literal: the partial index applies
    row = store.conn.execute(f"SELECT count(*) FROM raw_inputs WHERE status = {status}")
    return int(row.fetchone()[0])


# --------------------------------------------------------------------------------------------
# Totals


@dataclass(frozen=True, slots=True)
class DayTotal:
    day: date
    successful: int
    failed: int


def daily_totals(
    store: Store, domain: str | None, days: int, today: date, *, include_forged: bool = True
) -> list[DayTotal]:
    """Successful/failed sessions per UTC start date for the ``days`` days ending ``today``
    (oldest first, zero-filled). With a domain, counts only that domain's policies.

    Like the seed's Overview, counts are summed over policies: a report that evaluated the
    same sessions under an STS and a TLSA policy counts them under both. Read from the
    maintained day totals (migration 007): O(days x domains) rows, not the reports of the
    window. ``include_forged=False`` leaves out reports whose mail failed DKIM."""
    first = today - timedelta(days=max(days, 1) - 1)
    params: list[object] = [first.isoformat(), today.isoformat()]
    if domain:
        sql = ("SELECT day, successful, failed FROM policy_days"
               " WHERE lower(policy_domain) = ? AND day >= ? AND day <= ?")
        params.insert(0, normalise_domain(domain))
    else:
        sql = "SELECT day, successful, failed FROM report_days WHERE day >= ? AND day <= ?"
    if not include_forged:
        sql += " AND forged = 0"
    found: dict[str, list[int]] = {}
    for day, ok, bad in store.conn.execute(sql, params):
        if isinstance(ok, float) or isinstance(bad, float):  # beyond 64 bits: sum the rows
            return _daily_totals_scan(store, domain, first, days, include_forged)
        sums = found.setdefault(day, [0, 0])
        sums[0] += ok
        sums[1] += bad
    return _zero_filled(first, days, found)


def _zero_filled(first: date, days: int, found: dict[str, list[int]]) -> list[DayTotal]:
    out = []
    for i in range(max(days, 1)):
        d = first + timedelta(days=i)
        ok, failed = found.get(d.isoformat(), (0, 0))
        out.append(DayTotal(d, ok, failed))
    return out


def _daily_totals_scan(store: Store, domain: str | None, first: date, days: int,
                       include_forged: bool) -> list[DayTotal]:
    """daily_totals from the rows themselves, summed exactly in Python (a hostile report's
    counts made a day total overflow 64 bits)."""
    lo = first.isoformat()
    hi = (first + timedelta(days=max(days, 1))).isoformat()
    table = "policies p JOIN reports r ON r.id = p.report_pk" if domain else "reports r"
    where = ["r.start >= ?", "r.start < ?"]
    params: list[object] = [lo, hi]
    if domain:
        where.append("p.policy_domain = ?")
        params.append(normalise_domain(domain))
    if not include_forged:
        where.append(_NOT_FORGED)
    counts = "p.successful, p.failed" if domain else "r.successful, r.failed"
    found: dict[str, list[int]] = {}
    for start, ok, bad in store.conn.execute(
            f"SELECT r.start, {counts} FROM {table} WHERE " + " AND ".join(where), params):
        sums = found.setdefault(start[:10], [0, 0])
        sums[0] += ok
        sums[1] += bad
    return _zero_filled(first, days, found)


#: a report's mail did not fail DKIM (reports r)
_NOT_FORGED = ("r.input_id NOT IN (SELECT id FROM raw_inputs WHERE dkim_result = 'fail')")


@dataclass(frozen=True, slots=True)
class TableTotal:
    """A table's Total row under a filter: its number of rows and their session sums."""

    rows: int
    successful: int
    failed: int


def _day_bounds(flt: TableFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if flt.since is not None:
        clauses.append("day >= ?")
        params.append(flt.since.isoformat())
    if flt.until is not None:
        clauses.append("day <= ?")
        params.append(flt.until.isoformat())
    return clauses, params


def table_total_sql(kind: str, flt: TableFilter,
                    include_forged: bool = True) -> tuple[str, list[object]]:
    """The day-totals query behind table_total (tests read its plan)."""
    clauses, params = _day_bounds(flt)
    if flt.domain:
        # as the table's own rows: instr on the stored spelling, or equal ignoring case
        match = "instr({}, ?) > 0" if flt.domain_substring else "lower({}) = ?"
        params.append(normalise_domain(flt.domain))
        if kind == "overview":
            clauses.append("set_id IN (SELECT set_id FROM domain_set_members WHERE "
                           + match.format("domain") + ")")
        else:
            clauses.append(match.format("policy_domain"))
    if not include_forged:
        clauses.append("forged = 0")
    table, count = ("report_days", "reports") if kind == "overview" else ("policy_days",
                                                                          "policies")
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    return f"SELECT sum({count}), sum(successful), sum(failed) FROM {table}{where}", params


def table_total(store: Store, kind: str, flt: TableFilter | None = None, *,
                include_forged: bool = True) -> TableTotal:
    """The Total of the Overview ("overview") or Policy Summary ("policies") under ``flt``:
    how many rows the table has and the sums of their sessions, from the day totals, so it
    is known at once however many rows there are (the rows' own sums took ~4 s at
    1,000,000 reports). The day totals do not split by failing rows or failure details: the
    Failures table and the "only failing" filter sum their (far fewer) rows instead."""
    flt = flt or TableFilter()
    if kind == "failures" or flt.only_failing:
        return _table_total_scan(store, kind, flt, include_forged)
    sql, params = table_total_sql(kind, flt, include_forged)
    try:
        rows, ok, bad = store.conn.execute(sql, params).fetchone()
    except store.Error:  # SQLite's sum() overflowed 64 bits (hostile counts): sum the rows
        return _table_total_scan(store, kind, flt, include_forged)
    if isinstance(ok, float) or isinstance(bad, float):  # a day total beyond 64 bits
        return _table_total_scan(store, kind, flt, include_forged)
    return TableTotal(int(rows or 0), int(ok or 0), int(bad or 0))


def _table_total_scan(store: Store, kind: str, flt: TableFilter,
                      include_forged: bool) -> TableTotal:
    keys = {"overview": overview_keys, "policies": policy_keys, "failures": failure_keys}[kind]
    forged = set() if include_forged else _forged_keys(store, kind)
    rows = ok = bad = 0
    for key, s, f in keys(store, flt):
        if key in forged:
            continue
        rows += 1
        ok += s
        bad += f
    return TableTotal(rows, ok, bad)


def forged_report_count(store: Store, since: date, until: date) -> int:
    """Reports starting in [since, until] whose mail failed DKIM (from the day totals)."""
    row = store.conn.execute(
        "SELECT coalesce(sum(reports), 0) FROM report_days WHERE forged = 1"
        " AND day >= ? AND day <= ?", (since.isoformat(), until.isoformat())).fetchone()
    return int(row[0])


def forged_reports(store: Store) -> set[int]:
    """Every report whose mail failed DKIM (the CLI tables mark their rows and leave them out
    of the Total, as the TUI does)."""
    return _forged_keys(store, "overview")


def _forged_keys(store: Store, kind: str) -> set[int]:
    column = {"overview": "r.id", "policies": "p.id", "failures": "d.id"}[kind]
    join = {"overview": "reports r",
            "policies": "policies p JOIN reports r ON r.id = p.report_pk",
            "failures": "failure_details d JOIN policies p ON p.id = d.policy_pk"
                        " JOIN reports r ON r.id = p.report_pk"}[kind]
    return {int(k) for (k,) in store.conn.execute(
        f"SELECT {column} FROM {join} JOIN raw_inputs i ON i.id = r.input_id"
        " WHERE i.dkim_result = 'fail'")}


@dataclass(frozen=True, slots=True)
class DomainTotal:
    domain: str
    reports: int
    successful: int
    failed: int
    last_start: str | None  # ISO UTC start of the newest report for the domain


def domain_totals(store: Store) -> list[DomainTotal]:
    """Per policy domain (lower-cased): reports, session sums and the newest report's start."""
    rows = store.conn.execute(
        "SELECT lower(policy_domain), count(DISTINCT report_pk), sum(successful), sum(failed),"
        " max(start) FROM policies GROUP BY policy_domain ORDER BY policy_domain"
    ).fetchall()
    return [
        DomainTotal(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0), r[4]) for r in rows
    ]


def busiest_domains(store: Store, limit: int, since: date | None = None) -> list[str]:
    """The ``limit`` policy domains with the most policies reported (most first, then by
    name); with ``since``, counting only reports from that day on (from the day totals: the
    charts' 30 days of a few domains, not the store)."""
    where, params = "", []
    if since is not None:
        where, params = " WHERE day >= ?", [since.isoformat()]
    rows = store.conn.execute(
        "SELECT lower(policy_domain), sum(policies) FROM policy_days" + where
        + " GROUP BY lower(policy_domain) ORDER BY 2 DESC, 1 LIMIT ?", [*params, limit],
    ).fetchall()
    return [r[0] for r in rows]


def find_reports(store: Store, ident: str) -> list[int]:
    """Report pks for what a user typed: the store id the inbox shows, or a JSON report-id."""
    ident = ident.strip()
    if ident.isdigit() and db.load_report(store, int(ident)) is not None:
        return [int(ident)]
    rows = store.conn.execute(
        "SELECT id FROM reports WHERE report_id = ? OR subject_report_id = ? ORDER BY start, id",
        (ident, ident),
    ).fetchall()
    return [int(r[0]) for r in rows]
