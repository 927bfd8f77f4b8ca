"""Read-side queries the TUI and CLI share: inbox paging/filtering, totals, detail, reparse."""

from __future__ import annotations

from datetime import date

import pytest
from report_factory import failure, fixture_set, no_policy, report, sts_policy, to_json

from tlsrpt_tui.core.model import InputStatus, Origin, RawInput
from tlsrpt_tui.service import queries as q
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.service.reparse import reparse_all
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store


def _raw(data: bytes, name: str) -> RawInput:
    return RawInput(name, data, Origin("file", name))


@pytest.fixture
def store(tmp_path, new_db):
    s = Store(new_db("q"))
    items = [_raw(to_json(r), n) for n, r in sorted(fixture_set().items())]
    items.append(_raw(b"\x1f\x8b\x08\x00broken", "z_broken.json.gz"))
    ingest_stream(s, items)
    yield s
    s.close()


def test_inbox_is_newest_first_with_denormalised_columns(store):
    rows = q.inbox_page(store, offset=0, limit=10)
    fx = fixture_set()
    assert [r.organization for r in rows] == [
        fx["c_self_0503.json"]["organization-name"],
        fx["b_ms_0502.json"]["organization-name"],
        fx["a_google_0501.json"]["organization-name"],
    ]
    ms = rows[1]
    assert (ms.date, ms.policy_domains, ms.policy_types) == ("2026-05-02", "example.org",
                                                            "STS, TLSA")
    assert (ms.successful, ms.failed) == (7 + 7, 3)
    assert q.inbox_count(store) == 3
    assert [r.pk for r in q.inbox_page(store, offset=1, limit=1)] == [ms.pk]


def test_inbox_text_filter_is_a_case_insensitive_substring(store):
    assert [r.organization for r in q.inbox_page(store, text_filter="MICROSOFT")] == [
        "Microsoft Corporation"
    ]
    assert q.inbox_count(store, "example.org") == 2
    assert q.inbox_count(store, "other.EXAMPLE") == 1
    assert q.inbox_count(store, "self-42") == 1  # report-id
    assert q.inbox_count(store, "nothing-like-this") == 0
    assert q.inbox_count(store, "   ") == 3  # blank = no filter


def test_inbox_text_filter_finds_a_failure_result_type(store):
    """`/expired` lists the reports with a certificate-expired failure (issue 13: it found
    nothing); with a dkim: token both must hold."""
    assert [r.organization for r in q.inbox_page(store, text_filter="EXPIRED")] == [
        "Microsoft Corporation"
    ]
    assert q.inbox_count(store, "validation-fail") == 1
    assert q.inbox_count(store, "expired dkim:pass") == 0  # file imports carry no verdict
    assert q.inbox_count(store, "expired dkim:unknown") == 1
    assert q.inbox_count(store, "sts-policy-fetch") == 0


def test_an_upgraded_store_finds_its_stored_reports_by_result_type(db_location):
    """Migration 011 writes the result types into the search text of the reports stored
    before it, as new reports get them."""
    with Store(db_location) as s:
        ingest_stream(s, [_raw(to_json(r), n) for n, r in sorted(fixture_set().items())])
        assert q.inbox_count(s, "expired") == 1
        with s.transaction():  # back to a version-10 store: the search text without them
            s.conn.execute("UPDATE reports SET search = replace(replace(search, ?, ''), ?, '')",
                           ("\ncertificate-expired", "\nvalidation-failure"))
            assert q.inbox_count(s, "expired") == 0
            if s.dialect == "sqlite":
                s.conn.execute("PRAGMA user_version = 10")
            else:
                s.conn.execute("UPDATE tlsrpt_schema SET version = 10")
        stored = [r.pk for r in q.inbox_page(s)]
    with Store(db_location) as s:
        assert q.inbox_count(s, "EXPIRED") == q.inbox_count(s, "validation-failure") == 1
        assert q.inbox_count(s, "microsoft") == 1 and [r.pk for r in q.inbox_page(s)] == stored
        [(pk, search)] = s.conn.execute(
            "SELECT id, search FROM reports WHERE search LIKE '%expired%'").fetchall()
        report, _input = db.load_report(s, pk)  # type: ignore[misc]
        assert search == db.search_text(report)  # as a new report would have it


def test_inbox_oldest_first_pages_the_other_way(store):
    """S in the inbox: the same reports oldest first, the next page after the last shown."""
    newest = [r.pk for r in q.inbox_page(store)]
    oldest = q.inbox_page(store, limit=2, oldest_first=True)
    assert [r.pk for r in oldest] == newest[::-1][:2]
    rest = q.inbox_page(store, limit=2, oldest_first=True, after=(oldest[-1].start,
                                                                  oldest[-1].pk))
    assert [r.pk for r in rest] == newest[::-1][2:]


def test_inbox_only_failing_token(store):
    """`only:failing` (the TUI's x) keeps the reports with failed sessions, with or beside a
    text; an unknown `only:` word is just text."""
    assert [r.failed for r in q.inbox_page(store, text_filter="only:failing")] == [3]
    assert q.inbox_count(store, "ONLY:FAILING microsoft") == 1
    assert q.inbox_count(store, "google only:failing") == 0
    assert q.inbox_count(store, "only:failingx") == 0


def test_unreadable_inputs_list_their_reason(store):
    [bad] = q.unreadable_inputs(store, 10)
    assert bad.source == "z_broken.json.gz"
    assert bad.error and "\n" not in bad.error
    assert q.unreadable_count(store) == 1


def test_report_detail_returns_the_report_and_its_input(store):
    pk = q.inbox_page(store, text_filter="microsoft")[0].pk
    rep, meta = q.report_detail(store, pk)
    assert rep.report_id == fixture_set()["b_ms_0502.json"]["report-id"]
    assert [len(p.failure_details) for p in rep.policies] == [2, 0]
    assert meta.source == "b_ms_0502.json" and meta.status is InputStatus.REPORT
    assert q.raw_input_bytes(store, meta.pk) == to_json(fixture_set()["b_ms_0502.json"])
    assert q.report_detail(store, 999999) is None


def test_daily_totals_zero_fill_and_domain_filter(store):
    days = q.daily_totals(store, None, 4, date(2026, 5, 3))
    assert [(d.day.isoformat(), d.successful, d.failed) for d in days] == [
        ("2026-04-30", 0, 0),
        ("2026-05-01", 120, 0),
        ("2026-05-02", 14, 3),
        ("2026-05-03", 5, 0),
    ]
    dom = q.daily_totals(store, "OTHER.example.", 2, date(2026, 5, 3))
    assert [(d.successful, d.failed) for d in dom] == [(0, 0), (5, 0)]


def test_domain_totals(store):
    totals = {t.domain: t for t in q.domain_totals(store)}
    assert set(totals) == {"example.org", "other.example"}
    org = totals["example.org"]
    assert (org.reports, org.successful, org.failed) == (2, 120 + 14, 3)
    assert org.last_start == "2026-05-02T00:00:00+00:00"


def test_reparse_recovers_rejected_inputs_and_is_idempotent(tmp_path, new_db):
    good = report("Fixed Inc.", "fix-1", "2026-05-04", [no_policy("example.org", 9)])
    # Stored as rejected by an "older parser": the row exists, its reports do not.
    with Store(new_db("r")) as store:
        with store.transaction():
            pk, _ = db.store_raw_input(
                store, source="old.json", data=to_json(good), origin=Origin("file", "old.json"),
                status=InputStatus.REJECTED, error="old parser said no", parser_version="0",
            )
        ingest_stream(store, [_raw(to_json(fixture_set()["a_google_0501.json"]), "a.json")])
        before_pk = q.inbox_page(store, text_filter="google")[0].pk
        first = reparse_all(store)
        assert (first.inputs, first.recovered, first.added, first.unchanged) == (2, 1, 1, 1)
        assert db.get_input(store, pk).status is InputStatus.REPORT
        snapshot = _dump(store)
        second = reparse_all(store)
        assert (second.recovered, second.added, second.removed, second.updated) == (0, 0, 0, 0)
        assert second.unchanged == 2
        assert _dump(store) == snapshot
        # Re-derived in place: the pk the TUI may hold still names the same report.
        assert q.inbox_page(store, text_filter="google")[0].pk == before_pk


def test_reparse_rewrites_a_stale_derived_report(tmp_path, new_db):
    rep = report("Stale Inc.", "st-1", "2026-05-05", [
        sts_policy("example.org", 1, 1, details=[failure("dnssec-invalid", 1)])
    ])
    with Store(new_db("s")) as store:
        ingest_stream(store, [_raw(to_json(rep), "s.json")])
        store.conn.execute("UPDATE reports SET successful = 999, policy_types = 'BOGUS'")
        store.conn.execute("DELETE FROM failure_details")
        assert reparse_all(store).updated == 1
        [row] = q.inbox_page(store)
        assert (row.successful, row.policy_types) == (1, "STS")
        assert db.counts(store)["failure_details"] == 1


def _dump(store: Store) -> list:
    out = []
    for table in ("reports", "policies", "failure_details"):
        out.append([tuple(r) for r in store.conn.execute(f"SELECT * FROM {table} ORDER BY id")])
    out.append([tuple(r) for r in store.conn.execute(
        "SELECT id, status, error, parser_version FROM raw_inputs ORDER BY id")])
    return out


def test_failures_table_pages_newest_first_and_knows_where_each_detail_is(store):
    """The TUI's Failures table: keys newest first, rows by key, each row pointing at its
    report, policy and detail; the CLI's order reversed; its Total summed from the rows."""
    flt = q.TableFilter(domain_substring=True, newest_first=True)
    keys = list(q.failure_keys(store, flt))
    rows = q.failure_rows_by_key(store, [k for k, _ok, _bad in keys])
    oldest_first = list(q.failure_rows(store))
    assert len(rows) >= 2 and rows == oldest_first[::-1]
    assert [bad for _k, _ok, bad in keys] == [r.failed for r in rows]
    cursor = q.table_key_cursor(store, "failures", flt)  # what the TUI pages through
    assert [k for (k,) in cursor.fetchall()] == [k for k, _ok, _bad in keys]
    for row in rows:
        report, _meta = q.report_detail(store, row.report_pk)
        detail = report.policies[row.policy_index].failure_details[row.detail_index]
        assert (detail.result_type, detail.failed_session_count) == (row.result_type,
                                                                     row.failed)
    total = q.table_total(store, "failures", flt)
    assert (total.rows, total.failed) == (len(rows), sum(r.failed for r in rows))
    assert q.table_total(store, "failures", q.TableFilter(domain="other.example")).rows == 0


def test_only_failing_keeps_the_rows_with_failed_sessions(store):
    every = list(q.overview_rows(store))
    failing = q.TableFilter(only_failing=True)
    rows = list(q.overview_rows(store, failing))
    assert rows == [r for r in every if r.failed] and 0 < len(rows) < len(every)
    total = q.table_total(store, "overview", failing)
    assert (total.rows, total.failed) == (len(rows), sum(r.failed for r in rows))
    policies = list(q.policy_rows(store, failing))
    assert policies and all(p.failed for p in policies)
    assert q.table_total(store, "policies", failing).rows == len(policies)


def test_overview_rows_carry_their_policy_domains_but_not_as_a_column(store):
    from tlsrpt_tui.core import tables

    [ms] = [r for r in q.overview_rows(store) if r.organization == "Microsoft Corporation"]
    assert ms.policy_domains == "example.org"
    assert "example.org" not in tables.row_values(ms)  # the seed's columns only
