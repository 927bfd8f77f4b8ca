"""The queries behind the screens at a million reports: each reads an index in the order it
returns rows (EXPLAIN QUERY PLAN), never a scan plus a sort of the whole table.

A sort of 1,000,000 rows (``USE TEMP B-TREE FOR ORDER BY``) holds the first row back for
seconds; a plain table scan makes a filter keystroke cost the table. The store here is small
but ANALYZEd with the shape of a big one (bench/bench_store.py's generator), so the planner
chooses as it would there; the timings themselves belong to bench/.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from tlsrpt_tui.service import queries as q
from tlsrpt_tui.store import imap_state, totals
from tlsrpt_tui.store.database import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_store import fill


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    s = Store(tmp_path_factory.mktemp("plans") / "s.sqlite3")
    fill(s, 3000)
    yield s
    s.close()


def plan(store: Store, sql: str, params: list[object] | tuple[object, ...] = ()) -> str:
    return "\n".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql, params))


def overview_keys_sql(flt: q.TableFilter) -> tuple[str, list[object]]:
    return q._overview_sql(flt, "r.id, r.successful, r.failed")


def policy_keys_sql(flt: q.TableFilter) -> tuple[str, list[object]]:
    where, params = q._policy_where(flt)
    return "SELECT p.id, p.successful, p.failed FROM policies p" + where + q._POLICY_ORDER, params


def test_the_big_tables_stream_from_their_order_index(store: Store) -> None:
    got = plan(store, *overview_keys_sql(q.TableFilter()))
    assert "COVERING INDEX reports_day" in got and "TEMP B-TREE" not in got, got
    got = plan(store, *policy_keys_sql(q.TableFilter()))
    assert "COVERING INDEX policies_day" in got and "TEMP B-TREE" not in got, got
    # the rows of all policies (export, CLI): the same order, each report by its key
    where, params = q._policy_where(q.TableFilter())
    got = plan(store, f"SELECT {q._POLICY_COLUMNS}{q._POLICY_FROM}{where}{q._POLICY_ORDER}",
               params)
    assert "INDEX policies_day" in got and "TEMP B-TREE" not in got, got
    assert "SEARCH r USING INTEGER PRIMARY KEY" in got, got
    # the TUI's newest first walks the same indexes backwards: still no sort
    newest = q.TableFilter(newest_first=True)
    got = plan(store, *overview_keys_sql(newest))
    assert "COVERING INDEX reports_day" in got and "TEMP B-TREE" not in got, got
    where, params = q._policy_where(newest)
    got = plan(store, "SELECT p.id, p.successful, p.failed FROM policies p" + where
               + newest.order(*q._POLICY_ORDER_TERMS), params)
    assert "COVERING INDEX policies_day" in got and "TEMP B-TREE" not in got, got
    # a domain: only its rows are read (the domain index), then sorted
    got = plan(store, *policy_keys_sql(q.TableFilter(domain="d7.example")))
    assert "INDEX policies_domain (policy_domain=?)" in got, got


def test_the_screens_key_stream_reads_the_order_index_alone(store: Store) -> None:
    for kind, index in (("overview", "reports_day"), ("policies", "policies_day")):
        for flt in (q.TableFilter(), q.TableFilter(newest_first=True)):
            got = plan(store, *q.table_key_sql(kind, flt))
            assert f"COVERING INDEX {index}" in got and "TEMP B-TREE" not in got, got


def test_a_window_of_rows_is_read_by_primary_key(store: Store) -> None:
    sql = f"SELECT {q._OVERVIEW_COLUMNS} FROM reports r WHERE r.id IN (?, ?, ?)"
    assert "USING INTEGER PRIMARY KEY" in plan(store, sql, [1, 2, 3])
    sql = f"SELECT {q._POLICY_COLUMNS}{q._POLICY_FROM} WHERE p.id IN (?, ?, ?)"
    got = plan(store, sql, [1, 2, 3])
    assert got.count("USING INTEGER PRIMARY KEY") == 2, got


def test_the_inbox_pages_and_filters_along_the_start_index(store: Store) -> None:
    first = ("SELECT id FROM reports WHERE instr(search, ?) > 0"
             " ORDER BY start DESC, id DESC LIMIT ?")
    got = plan(store, first, ["microsoft", 24])
    assert "COVERING INDEX reports_start" in got and "TEMP B-TREE" not in got, got
    # the next page continues below the last row shown (keyset), not after an OFFSET
    nxt = ("SELECT id FROM reports WHERE instr(search, ?) > 0 AND (start, id) < (?, ?)"
           " ORDER BY start DESC, id DESC LIMIT ?")
    got = plan(store, nxt, ["microsoft", "2025-06-01", 10, 24])
    assert "COVERING INDEX reports_start (start<?)" in got and "TEMP B-TREE" not in got, got


def test_the_inbox_filter_with_result_types_and_only_failing_keeps_the_start_index(
    store: Store,
) -> None:
    """The real filter clause: a result type is in the search text (never a read of the
    failure details per keystroke), only:failing adds a column test; the rows still come in
    the start index's order, never sorted."""
    for text in ("expired", "only:failing microsoft"):
        where, params = q._text_clause(text)
        sql = (f"SELECT id FROM reports WHERE {where} AND (start, id) < (?, ?)"
               " ORDER BY start DESC, id DESC LIMIT ?")
        got = plan(store, sql, [*params, "2025-06-01", 10, 24])
        assert "INDEX reports_start (start<?)" in got and "TEMP B-TREE" not in got, got
        assert "failure_details" not in got and "SUBQUERY" not in got, got


def test_the_charts_read_thirty_days_of_day_totals_not_the_reports(store: Store) -> None:
    got = plan(store, "SELECT day, successful, failed FROM policy_days"
               " WHERE lower(policy_domain) = ? AND day >= ? AND day <= ?",
               ["d7.example", "2025-05-01", "2025-05-30"])
    assert "INDEX policy_days_domain (<expr>=? AND day>? AND day<?)" in got, got
    got = plan(store, "SELECT day, successful, failed FROM report_days"
               " WHERE day >= ? AND day <= ?", ["2025-05-01", "2025-05-30"])
    assert "SEARCH report_days USING PRIMARY KEY (day>? AND day<?)" in got, got
    # no configured domain: the busiest of the charts' window, its days only
    got = plan(store, "SELECT lower(policy_domain), sum(policies) FROM policy_days"
               " WHERE day >= ? GROUP BY lower(policy_domain) ORDER BY 2 DESC, 1 LIMIT ?",
               ["2025-05-01", 5])
    assert "SEARCH policy_days USING" in got and "day>?)" in got, got
    busiest = q.busiest_domains(store, 5, date(2025, 5, 1))
    assert len(busiest) == 5 and all(d.endswith(".example") for d in busiest)


def test_a_tables_total_reads_day_totals_never_the_reports(store: Store) -> None:
    """The Total of the Overview and Policy Summary under any filter: the day totals alone
    (a few rows per day), bounded by the days when the filter has dates."""
    filters = [q.TableFilter(), q.TableFilter(domain="d7", domain_substring=True),
               q.TableFilter(domain="d7.example", since=date(2025, 5, 1)),
               q.TableFilter(since=date(2025, 5, 1), until=date(2025, 5, 30))]
    for kind in ("overview", "policies"):
        for flt in filters:
            got = plan(store, *q.table_total_sql(kind, flt))
            assert "reports" not in got.replace("report_days", "") and "policies " not in got
            assert "TEMP B-TREE" not in got and "AUTOMATIC" not in got, got
            if flt.since:
                assert "USING" in got and "day>?" in got, (kind, flt, got)
    got = plan(store, *q.table_total_sql("policies", q.TableFilter(domain="d7.example")))
    assert "INDEX policy_days_domain (<expr>=?)" in got, got
    got = plan(store, *q.table_total_sql("overview", q.TableFilter(domain="d7.example")))
    assert "INDEX domain_set_members_domain (<expr>=?)" in got, got


def test_keeping_the_day_totals_is_a_few_key_lookups(store: Store) -> None:
    """What every transaction that writes reports adds (store/totals.py): its domain sets by
    their unique key, its day rows by primary key, a stored report's shape by primary keys;
    no scan of any table."""
    got = plan(store, totals.FIND_SET, ['["d7.example"]'])
    assert "sqlite_autoindex_domain_sets_1 (domains=?)" in got and "SCAN" not in got, got
    got = plan(store, totals.UPSERT_REPORT_DAY, ["2025-05-01", 1, 0, 1, 1, 1])
    assert "SCAN" not in got, got
    got = plan(store, totals.UPSERT_POLICY_DAY, ["2025-05-01", "d7.example", 0, 1, 1, 1])
    assert "SCAN" not in got, got
    got = plan(store, totals.DROP_EMPTY_REPORT_DAY, ["2025-05-01", 1, 0])
    assert "USING PRIMARY KEY (day=? AND set_id=? AND forged=?)" in got, got
    got = plan(store, totals.DROP_EMPTY_POLICY_DAY, ["2025-05-01", "d7.example", 0])
    assert "USING PRIMARY KEY (day=? AND policy_domain=? AND forged=?)" in got, got
    got = plan(store, totals.STORED_REPORT, [5])
    assert got.count("USING INTEGER PRIMARY KEY") == 2, got
    got = plan(store, totals.STORED_POLICIES, [5])
    assert "(report_pk=?)" in got and "SCAN" not in got, got


def test_the_check_can_fail() -> None:
    """Guard against a plan check that cannot fail: without the day index, SQLite sorts."""
    s = Store(":memory:")
    try:
        fill(s, 200)
        s.conn.execute("DROP INDEX reports_day")
        assert "TEMP B-TREE FOR ORDER BY" in plan(s, *overview_keys_sql(q.TableFilter()))
    finally:
        s.close()


# -- PostgreSQL: the same queries, its own planner -------------------------------------------
# EXPLAIN's text differs, so PostgreSQL's plans are checked apart: the streamed tables as the
# store runs them (a server-side cursor, planned for its first rows: DECLARE), the pages with
# their LIMIT. "Sort" anywhere means every row is read before the first is returned.


def test_the_syncs_digest_question_starts_from_the_digest(store: Store) -> None:
    """Which of a batch's digests an account holds: each digest looked up in the unique
    (sha256, origin_key) index, not every row of the account read and compared."""
    digests = [bytes([n]) * 32 for n in range(3)]
    got = plan(store, imap_state.known_statuses_sql(3), [*digests, "acct"])
    assert "USING INDEX sqlite_autoindex_raw_inputs_1 (sha256=?)" in got, got
    names = {r[0] for r in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "raw_inputs_imap_sha" not in names  # migration 012: read by nothing


@pytest.fixture(scope="module")
def pg_store(postgres_server) -> Store:  # type: ignore[no-untyped-def]
    name = postgres_server.create_database()
    s = Store(postgres_server.location(name))
    fill(s, 1500)
    yield s
    s.close()
    postgres_server.drop_database(name)


def pg_plan(store: Store, sql: str, params: list[object] | tuple[object, ...] = (), *,
            cursor: bool = False) -> str:
    with store.transaction():
        prefix = "EXPLAIN DECLARE plan_check CURSOR FOR " if cursor else "EXPLAIN "
        return "\n".join(r[0] for r in store.conn.execute(prefix + sql, params))


def test_postgresql_streams_the_big_tables_from_their_order_index(pg_store: Store) -> None:
    for flt in (q.TableFilter(), q.TableFilter(newest_first=True)):
        got = pg_plan(pg_store, *overview_keys_sql(flt), cursor=True)
        assert "Index Only Scan" in got and "using reports_day" in got, got
        assert "Sort" not in got, got
        where, params = q._policy_where(flt)
        got = pg_plan(pg_store, "SELECT p.id, p.successful, p.failed FROM policies p" + where
                      + flt.order(*q._POLICY_ORDER_TERMS), params, cursor=True)
        assert "using policies_day" in got and "Sort" not in got, got
    where, params = q._policy_where(q.TableFilter())
    got = pg_plan(pg_store, f"SELECT {q._POLICY_COLUMNS}{q._POLICY_FROM}{where}"
                  f"{q._POLICY_ORDER}", params, cursor=True)
    assert "using policies_day" in got and "Sort" not in got, got
    got = pg_plan(pg_store, *policy_keys_sql(q.TableFilter(domain="D7.example")), cursor=True)
    assert "Index Cond: (policy_domain = 'd7.example'::citext)" in got, got


def test_postgresql_pages_the_inbox_along_the_start_index(pg_store: Store) -> None:
    first = ("SELECT id FROM reports WHERE instr(search, ?) > 0"
             " ORDER BY start DESC, id DESC LIMIT ?")
    got = pg_plan(pg_store, first, ["microsoft", 24])
    assert "Index Scan using reports_start" in got and "Sort" not in got, got
    nxt = ("SELECT id FROM reports WHERE instr(search, ?) > 0 AND (start, id) < (?, ?)"
           " ORDER BY start DESC, id DESC LIMIT ?")
    got = pg_plan(pg_store, nxt, ["microsoft", "2025-06-01", 10, 24])
    assert "Index Cond: (ROW(start, id) < ROW(" in got and "Sort" not in got, got
    sql = f"SELECT {q._OVERVIEW_COLUMNS} FROM reports r WHERE r.id IN (?, ?, ?)"
    assert "using reports_pkey" in pg_plan(pg_store, sql, [1, 2, 3])
    got = pg_plan(pg_store, "SELECT substr(start, 1, 10), sum(successful), sum(failed)"
                  " FROM policies WHERE policy_domain = ? AND start >= ? AND start < ?"
                  " GROUP BY 1", ["d7.example", "2025-05-01", "2025-06-01"])
    assert "Index Cond: ((policy_domain = 'd7.example'::citext) AND (start >= " in got, got


def test_the_postgresql_check_can_fail(pg_store: Store) -> None:
    """Without the day index, PostgreSQL has to sort: the plan check above would say so."""
    with pg_store.transaction():
        pg_store.conn.execute("DROP INDEX reports_day")
        got = "\n".join(r[0] for r in pg_store.conn.execute(
            "EXPLAIN DECLARE c CURSOR FOR " + overview_keys_sql(q.TableFilter())[0]))
        pg_store.conn.execute("ROLLBACK")  # the index is back for the other tests
        pg_store.conn.execute("BEGIN")
    assert "Sort" in got, got
