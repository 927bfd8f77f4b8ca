"""Session totals per day (migration 007), kept in step with the reports.

Every function that writes reports (``store.reports``: insert, replace, delete, a DKIM verdict
changed) calls these in the same transaction, so the totals can never disagree with the rows
they sum, whatever is interrupted. Inside a transaction the changes are summed in memory
(:class:`Pending`) and written once, just before its COMMIT (``Store.deferred``). Readers
(``service.queries``) sum a few rows per day instead of a million reports.
``tests/test_store_totals.py`` compares them with a fresh aggregation.

The SQL is portable (``ON CONFLICT … DO UPDATE``); no SQLite-only function is used here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

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


def is_forged(store: Store, input_pk: int) -> bool:
    """The report's mail failed DKIM (the flag the totals are kept under)."""
    row = store.conn.execute(
        "SELECT dkim_result FROM raw_inputs WHERE id = ?", (input_pk,)
    ).fetchone()
    return row is not None and row[0] == "fail"


#: (day, key, forged) -> [count, successful, failed]: the key is a domain set's (report_days)
#: or a policy domain (policy_days)
Sums = dict[tuple[str, str, int], list[int]]


@dataclass(slots=True)
class Pending:
    """The totals' changes of the running transaction, written once just before its COMMIT.

    Why not as each report is written: on PostgreSQL an upsert locks its day row until the
    transaction ends, and every report of a day adds to the same few rows, so a batch held
    them from its first report to its COMMIT and N workers' batches ran one after the other
    (bench_workers: 4 workers slower than one). Summed here, a batch writes each row once,
    in one fixed order (domain sets by key, then report_days, then policy_days, each sorted
    by its primary key), so the locks are held for the last moment of the transaction only
    and two batches can never wait for each other in a circle. The totals stay exact: the
    rows are written in the same transaction as the reports they sum.
    """

    report_days: Sums = field(default_factory=dict)
    policy_days: Sums = field(default_factory=dict)
    #: domain set key -> its members
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: input pk -> forged, as written in this transaction (saves reading it back per report)
    forged_inputs: dict[int, bool] = field(default_factory=dict)

    def copy(self) -> Pending:
        """A snapshot (a SAVEPOINT rolled back restores it)."""
        return Pending(
            {k: list(v) for k, v in self.report_days.items()},
            {k: list(v) for k, v in self.policy_days.items()},
            dict(self.members), dict(self.forged_inputs),
        )

    def flush(self, store: Store) -> None:
        write(store, self)


def _pending(store: Store) -> Pending | None:
    """The running transaction's pending totals (None outside a transaction)."""
    return store.deferred("totals", Pending)  # type: ignore[no-any-return]


def note_forged(store: Store, input_pk: int, forged: bool) -> None:
    """Remember an input's forged flag as just written (its reports are counted under it)."""
    pending = _pending(store)
    if pending is not None:
        pending.forged_inputs[input_pk] = forged


def note_forged_many(store: Store, flags: Iterable[tuple[int, bool]]) -> None:
    """``note_forged`` for (input pk, forged) pairs."""
    pending = _pending(store)
    if pending is not None:
        pending.forged_inputs.update(flags)


def forged_of(store: Store, input_pk: int) -> bool:
    """The input's forged flag: as written in this transaction, else read from the store."""
    pending = _pending(store)
    if pending is not None and input_pk in pending.forged_inputs:
        return pending.forged_inputs[input_pk]
    return is_forged(store, input_pk)


# The statements that write the totals, module-level so tests/test_store_plans.py checks the
# plans of exactly these.
FIND_SET = "SELECT id FROM domain_sets WHERE domains = ?"
NEW_SET = ("INSERT INTO domain_sets (domains) VALUES (?) ON CONFLICT (domains) DO NOTHING"
           " RETURNING id")
NEW_SET_MEMBER = "INSERT INTO domain_set_members (set_id, domain) VALUES (?, ?)"
_REPORT_DAY_SUMS = (
    " ON CONFLICT (day, set_id, forged) DO UPDATE SET"
    " reports = report_days.reports + excluded.reports,"
    " successful = report_days.successful + excluded.successful,"
    " failed = report_days.failed + excluded.failed")
_POLICY_DAY_SUMS = (
    " ON CONFLICT (day, policy_domain, forged) DO UPDATE SET"
    " policies = policy_days.policies + excluded.policies,"
    " successful = policy_days.successful + excluded.successful,"
    " failed = policy_days.failed + excluded.failed")
UPSERT_REPORT_DAY = ("INSERT INTO report_days (day, set_id, forged, reports, successful, failed)"
                     " VALUES (?, ?, ?, ?, ?, ?)" + _REPORT_DAY_SUMS)
UPSERT_POLICY_DAY = (
    "INSERT INTO policy_days (day, policy_domain, forged, policies, successful, failed)"
    " VALUES (?, ?, ?, ?, ?, ?)" + _POLICY_DAY_SUMS)
#: PostgreSQL: a table's changed rows in ONE upsert fed by arrays, one per column (sent in
#: binary, in the rows' order: the same locks in the same order as a row at a time, for a
#: batch's hundreds of day rows a statement instead of one each). Its sums are numeric:
#: no value needs cutting in pieces (``_pieces``).
PG_UPSERT_REPORT_DAYS = (
    "INSERT INTO report_days (day, set_id, forged, reports, successful, failed)"
    " SELECT * FROM unnest(%b::text[], %b::bigint[], %b::integer[], %b::bigint[],"
    " %b::numeric[], %b::numeric[])" + _REPORT_DAY_SUMS)
PG_UPSERT_POLICY_DAYS = (
    "INSERT INTO policy_days (day, policy_domain, forged, policies, successful, failed)"
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::integer[], %b::bigint[],"
    " %b::numeric[], %b::numeric[])" + _POLICY_DAY_SUMS)
DROP_EMPTY_REPORT_DAY = (
    "DELETE FROM report_days WHERE day = ? AND set_id = ? AND forged = ? AND reports = 0")
DROP_EMPTY_POLICY_DAY = (
    "DELETE FROM policy_days WHERE day = ? AND policy_domain = ? AND forged = ?"
    " AND policies = 0")
STORED_REPORT = (
    "SELECT r.start, r.successful, r.failed, i.dkim_result FROM reports r"
    " JOIN raw_inputs i ON i.id = r.input_id WHERE r.id = ?")
STORED_POLICIES = (
    "SELECT policy_domain, successful, failed FROM policies WHERE report_pk = ? ORDER BY ordinal")

#: the largest value a bound parameter may have (SQLite's INTEGER is 64-bit signed)
_MAX_PARAM = 2**63 - 1


def add(store: Store, shape: ReportShape, forged: bool | None = None, sign: int = 1, *,
        input_pk: int | None = None) -> None:
    """Count a report in (sign 1) or out (sign -1) of the totals under its forged flag: given,
    or (``input_pk``) its input's, as written in this transaction or stored.

    Inside a transaction this only adds to its pending sums (written before its COMMIT);
    outside one, the sums are written at once."""
    if forged is None:
        assert input_pk is not None, "give forged or input_pk"
        forged = forged_of(store, input_pk)
    add_shapes(store, [((shape.day, shape.successful, shape.failed, shape.policies), forged)],
               sign)


#: ``ReportRows``' shape: (day, successful, failed, ((policy domain, successful, failed), ...))
ShapeRow = tuple[str, int, int, tuple[tuple[str, int, int], ...]]


def add_shapes(store: Store, shapes: Sequence[tuple[ShapeRow, bool]], sign: int = 1) -> None:
    """``add`` for many reports, given as (shape row, forged): what a batch of mail stores,
    without a ReportShape per report."""
    pending = _pending(store)
    target = pending if pending is not None else Pending()
    report_days, policy_days, members_of = target.report_days, target.policy_days, target.members
    for (day, ok, bad, policies), forged in shapes:
        flag = 1 if forged else 0
        if len(policies) == 1:
            members: tuple[str, ...] = (policies[0][0],)
        else:
            members = tuple(sorted({domain for domain, _, _ in policies}))
        key = _key(members)
        if key not in members_of:
            members_of[key] = members
        _bump(report_days, (day, key, flag), (sign, sign * ok, sign * bad))
        for domain, p_ok, p_bad in policies:
            _bump(policy_days, (day, domain, flag), (sign, sign * p_ok, sign * p_bad))
    if pending is None:
        write(store, target)


def _bump(sums: Sums, key: tuple[str, str, int], delta: tuple[int, int, int]) -> None:
    found = sums.get(key)
    if found is None:
        sums[key] = list(delta)
    else:
        found[0] += delta[0]
        found[1] += delta[1]
        found[2] += delta[2]


def write(store: Store, pending: Pending) -> None:
    """Write pending sums: each changed row once, in the fixed order of :class:`Pending`;
    a day row that no longer counts anything is deleted."""
    report_days = {k: v for k, v in pending.report_days.items() if any(v)}
    policy_days = {k: v for k, v in pending.policy_days.items() if any(v)}
    if not report_days and not policy_days:
        return
    conn = store.conn
    set_ids = {key: _set_id(store, key, pending.members[key])
               for key in sorted({key for _, key, _ in report_days})}
    rows = sorted(((day, set_ids[key], forged), sums)
                  for (day, key, forged), sums in report_days.items())
    _upsert(store, UPSERT_REPORT_DAY, PG_UPSERT_REPORT_DAYS, rows)
    conn.executemany(DROP_EMPTY_REPORT_DAY, [k for k, sums in rows if sums[0] < 0])
    policies = sorted(policy_days.items())
    _upsert(store, UPSERT_POLICY_DAY, PG_UPSERT_POLICY_DAYS, policies)
    conn.executemany(DROP_EMPTY_POLICY_DAY, [k for k, sums in policies if sums[0] < 0])


def _upsert(store: Store, upsert: str, pg_upsert: str,
            rows: Sequence[tuple[tuple[object, ...], list[int]]]) -> None:
    """Add the sums to their rows (each key once, in order): ``upsert`` row by row, or on
    PostgreSQL ``pg_upsert`` once for them all."""
    if store.dialect != "postgresql":
        store.conn.executemany(upsert, _params(rows))
    elif rows:
        from tlsrpt_tui.store.postgres import storable_texts

        columns = [list(c) for c in zip(*[(*key, *sums) for key, sums in rows], strict=True)]
        store.conn.raw.execute(pg_upsert, [  # type: ignore[attr-defined]
            storable_texts(c) if isinstance(c[0], str) else c for c in columns])


def _params(rows: Sequence[tuple[tuple[object, ...], list[int]]]) -> list[tuple[object, ...]]:
    """The upserts' parameters: key + sums, a sum beyond 64 bits in pieces (``_pieces``)."""
    out: list[tuple[object, ...]] = []
    top, bottom = _MAX_PARAM, -_MAX_PARAM
    for key, (n, ok, bad) in rows:
        if bottom <= n <= top and bottom <= ok <= top and bottom <= bad <= top:
            out.append((*key, n, ok, bad))  # the common case, two rows a mail
        else:
            out += [(*key, *piece) for piece in _pieces([n, ok, bad])]
    return out


def _set_id(store: Store, key: str, members: tuple[str, ...]) -> int:
    """The id of a domain set, created when new (another writer creating the same set at the
    same moment: its row is then used)."""
    row = store.conn.execute(FIND_SET, (key,)).fetchone()
    if row is not None:
        return int(row[0])
    row = store.conn.execute(NEW_SET, (key,)).fetchone()
    if row is None:  # another transaction created it meanwhile (and has committed)
        return int(store.conn.execute(FIND_SET, (key,)).fetchone()[0])
    store.conn.executemany(NEW_SET_MEMBER, [(row[0], d) for d in members])
    return int(row[0])


def _pieces(sums: list[int]) -> Iterator[tuple[int, ...]]:
    """The sums as parameters that can be bound: a sum beyond 64 bits (only hostile reports
    make one, several in a batch) is added in several steps (the row's sum then overflows
    as it did when each report was added alone: SQLite keeps it as a REAL)."""
    if all(-_MAX_PARAM <= v <= _MAX_PARAM for v in sums):
        yield tuple(sums)
        return
    rest = list(sums)
    while True:
        piece = tuple(max(-_MAX_PARAM, min(_MAX_PARAM, v)) for v in rest)
        yield piece
        rest = [v - p for v, p in zip(rest, piece, strict=True)]
        if not any(rest):
            return


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
