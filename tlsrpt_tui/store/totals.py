"""Session totals per day (migration 007), kept in step with the reports.

Every function that writes reports (``store.reports``: insert, replace, delete, a DKIM verdict
changed) calls these in the same transaction, so the totals can never disagree with the rows
they sum, whatever is interrupted. Readers (``service.queries``) sum a few rows per day instead
of a million reports. ``tests/test_store_totals.py`` compares them with a fresh aggregation.

The SQL is portable (``ON CONFLICT … DO UPDATE``); no SQLite-only function is used here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

from tlsrpt_tui.store.database import Store


@dataclass(frozen=True, slots=True)
class ReportShape:
    """What a report adds to the totals: its day, session sums and per-policy counts."""

    day: str  # YYYY-MM-DD, the UTC date of its start
    successful: int
    failed: int
    #: (policy domain as stored, successful, failed) per policy, in report order
    policies: tuple[tuple[str, int, int], ...]


@functools.lru_cache(maxsize=4096)
def _key(members: tuple[str, ...]) -> str:
    """The key of a set of policy domains: the JSON array of the distinct ones, sorted (a
    store sees a few hundred distinct sets, so the spelling is cached)."""
    return json.dumps(members, ensure_ascii=False, separators=(",", ":"))


def _new_set(store: Store, members: tuple[str, ...], key: str) -> None:
    (set_id,) = store.conn.execute(
        "INSERT INTO domain_sets (domains) VALUES (?) RETURNING id", (key,)).fetchone()
    store.conn.executemany(
        "INSERT INTO domain_set_members (set_id, domain) VALUES (?, ?)",
        [(set_id, d) for d in members],
    )


def is_forged(store: Store, input_pk: int) -> bool:
    """The report's mail failed DKIM (the flag the totals are kept under)."""
    row = store.conn.execute(
        "SELECT dkim_result FROM raw_inputs WHERE id = ?", (input_pk,)
    ).fetchone()
    return row is not None and row[0] == "fail"


#: the forged flag of a report from its input's stored verdict, inside the upserts (one
#: statement fewer per report on the ingest path)
FORGED_OF_INPUT = ("coalesce((SELECT CASE WHEN dkim_result = 'fail' THEN 1 ELSE 0 END"
                    " FROM raw_inputs WHERE id = ?), 0)")


# The statements that keep the totals (``flag``: ``?`` or FORGED_OF_INPUT), module-level so
# tests/test_store_plans.py checks the plans of exactly these.
def upsert_report_day(flag: str) -> str:
    return ("INSERT INTO report_days (day, set_id, forged, reports, successful, failed)"
            f" SELECT ?, id, {flag}, ?, ?, ? FROM domain_sets WHERE domains = ?"
            " ON CONFLICT (day, set_id, forged) DO UPDATE SET"
            " reports = report_days.reports + excluded.reports,"
            " successful = report_days.successful + excluded.successful,"
            " failed = report_days.failed + excluded.failed")


def upsert_policy_day(flag: str) -> str:
    return ("INSERT INTO policy_days (day, policy_domain, forged, policies, successful, failed)"
            f" VALUES (?, ?, {flag}, ?, ?, ?) ON CONFLICT (day, policy_domain, forged)"
            " DO UPDATE SET policies = policy_days.policies + excluded.policies,"
            " successful = policy_days.successful + excluded.successful,"
            " failed = policy_days.failed + excluded.failed")


DROP_EMPTY_REPORT_DAY = (
    "DELETE FROM report_days WHERE reports = 0 AND day = ? AND forged = ?"
    " AND set_id IN (SELECT id FROM domain_sets WHERE domains = ?)")
DROP_EMPTY_POLICY_DAY = (
    "DELETE FROM policy_days WHERE day = ? AND policy_domain = ? AND forged = ?"
    " AND policies = 0")
STORED_REPORT = (
    "SELECT r.start, r.successful, r.failed, i.dkim_result FROM reports r"
    " JOIN raw_inputs i ON i.id = r.input_id WHERE r.id = ?")
STORED_POLICIES = (
    "SELECT policy_domain, successful, failed FROM policies WHERE report_pk = ? ORDER BY ordinal")


def add(store: Store, shape: ReportShape, forged: bool | None = None, sign: int = 1, *,
        input_pk: int | None = None) -> None:
    """Count a report in (sign 1) or out (sign -1) of the totals under its forged flag: given,
    or (``input_pk``) read from its input's verdict.

    Two statements for a new report: the day's report row (its domain set found by key in
    the same statement) and its policies' rows."""
    conn = store.conn
    if forged is None:
        assert input_pk is not None, "give forged or input_pk"
        flag, flag_params = FORGED_OF_INPUT, [input_pk]
    else:
        flag, flag_params = "?", [int(forged)]
    members = tuple(sorted({domain for domain, _, _ in shape.policies}))
    key = _key(members)
    upsert_report = upsert_report_day(flag)
    params = (shape.day, *flag_params, sign, sign * shape.successful, sign * shape.failed, key)
    if conn.execute(upsert_report, params).rowcount == 0:  # a set not seen before
        _new_set(store, members, key)
        conn.execute(upsert_report, params)
    per_domain: dict[str, list[int]] = {}
    for domain, ok, bad in shape.policies:
        sums = per_domain.setdefault(domain, [0, 0, 0])
        sums[0] += sign
        sums[1] += sign * ok
        sums[2] += sign * bad
    conn.executemany(
        upsert_policy_day(flag),
        [(shape.day, domain, *flag_params, *sums) for domain, sums in per_domain.items()],
    )
    if sign < 0:  # a day that no longer counts anything is not kept
        assert forged is not None, "counting out needs the stored forged flag"
        conn.execute(DROP_EMPTY_REPORT_DAY, (shape.day, int(bool(forged)), key))
        conn.executemany(DROP_EMPTY_POLICY_DAY,
                         [(shape.day, domain, int(bool(forged))) for domain in per_domain])


def stored_shape(store: Store, report_pk: int) -> tuple[ReportShape, bool] | None:
    """The stored report's shape and forged flag, read back (before a change or deletion)."""
    row = store.conn.execute(STORED_REPORT, (report_pk,)).fetchone()
    if row is None:
        return None
    policies = tuple(
        (str(p[0]), int(p[1]), int(p[2]))
        for p in store.conn.execute(STORED_POLICIES, (report_pk,))
    )
    shape = ReportShape(str(row[0])[:10], int(row[1]), int(row[2]), policies)
    return shape, row[3] == "fail"


def remove_stored(store: Store, report_pks: Sequence[int]) -> None:
    """Count stored reports out (before they are deleted or rewritten)."""
    for pk in report_pks:
        found = stored_shape(store, pk)
        if found is not None:
            add(store, found[0], found[1], -1)


def add_stored(store: Store, report_pks: Sequence[int]) -> None:
    """Count stored reports in (after they were rewritten or their verdict changed)."""
    for pk in report_pks:
        found = stored_shape(store, pk)
        if found is not None:
            add(store, found[0], found[1])
