"""The day totals (migration 007) stay equal to a fresh aggregation of the reports.

Each step writes through the program's own paths (import, duplicate import, reparse of
changed bytes, a report gone from its input, a DKIM verdict turned to fail and back); after
each, the maintained tables are compared with sums computed here from the reports and
policies themselves, and the Total rows the tables show with the sums of their own rows.
"""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import date

import pytest
from report_factory import report, sts_policy, tlsa_policy, to_json, to_mail

from tlsrpt_tui.core.model import DkimVerdict, Origin, RawInput
from tlsrpt_tui.service import queries as q
from tlsrpt_tui.service.ingest import ingest_batch, ingest_stream
from tlsrpt_tui.service.reparse import reparse_all
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store

Key = tuple[object, ...]


def fresh_report_days(store: Store) -> Counter[Key]:
    """(day, frozenset of policy domains, forged) -> [reports, successful, failed], summed
    from the rows (a Counter per field, keyed by (field, key))."""
    out: Counter[Key] = Counter()
    for pk, start, ok, bad, dkim in store.conn.execute(
            "SELECT r.id, r.start, r.successful, r.failed, i.dkim_result FROM reports r"
            " JOIN raw_inputs i ON i.id = r.input_id"):
        domains = frozenset(d for (d,) in store.conn.execute(
            "SELECT policy_domain FROM policies WHERE report_pk = ?", (pk,)))
        key = (start[:10], domains, int(dkim == "fail"))
        out["reports", *key] += 1
        out["successful", *key] += ok
        out["failed", *key] += bad
    return +out


def kept_report_days(store: Store) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for day, set_id, forged, n, ok, bad in store.conn.execute(
            "SELECT day, set_id, forged, reports, successful, failed FROM report_days"):
        domains = frozenset(d for (d,) in store.conn.execute(
            "SELECT domain FROM domain_set_members WHERE set_id = ?", (set_id,)))
        key = (day, domains, forged)
        out["reports", *key] += n
        out["successful", *key] += ok
        out["failed", *key] += bad
    return +out


def fresh_policy_days(store: Store) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for start, domain, ok, bad, dkim in store.conn.execute(
            "SELECT p.start, p.policy_domain, p.successful, p.failed, i.dkim_result"
            " FROM policies p JOIN reports r ON r.id = p.report_pk"
            " JOIN raw_inputs i ON i.id = r.input_id"):
        key = (start[:10], domain, int(dkim == "fail"))
        out["policies", *key] += 1
        out["successful", *key] += ok
        out["failed", *key] += bad
    return +out


def kept_policy_days(store: Store) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for day, domain, forged, n, ok, bad in store.conn.execute(
            "SELECT day, policy_domain, forged, policies, successful, failed FROM policy_days"):
        key = (day, domain, forged)
        out["policies", *key] += n
        out["successful", *key] += ok
        out["failed", *key] += bad
    return +out


FILTERS = [
    q.TableFilter(),
    q.TableFilter(domain="example", domain_substring=True),  # matches two domains of a report
    q.TableFilter(domain="B.example"),
    q.TableFilter(domain="org", domain_substring=True, since=date(2026, 5, 2)),
    q.TableFilter(since=date(2026, 5, 2), until=date(2026, 5, 2)),
]


def assert_totals_fresh(store: Store) -> None:
    assert kept_report_days(store) == fresh_report_days(store)
    assert kept_policy_days(store) == fresh_policy_days(store)
    forged = q.forged_report_pks(store, [pk for (pk,) in store.conn.execute(
        "SELECT id FROM reports")])
    for flt in FILTERS:
        for kind, keys in (("overview", q.overview_keys), ("policies", q.policy_keys)):
            rows = list(keys(store, flt))
            assert q.table_total(store, kind, flt) == q.TableTotal(
                len(rows), sum(r[1] for r in rows), sum(r[2] for r in rows)), (kind, flt)
            if kind == "overview":
                honest = [r for r in rows if r[0] not in forged]
                assert q.table_total(store, kind, flt, include_forged=False) == q.TableTotal(
                    len(honest), sum(r[1] for r in honest), sum(r[2] for r in honest)), flt


def _report(rid: str, day: str, ok: int = 10, bad: int = 2, org: str = "Sender Inc.") -> dict:
    return report(org, rid, day, [
        sts_policy("a.example", ok, bad),
        tlsa_policy("a.example", ok + 1, 0),
        sts_policy("B.example", 5, bad + 1),
    ])


@pytest.fixture
def store(db_location):
    """A fresh store of each backend (SQLite, PostgreSQL)."""
    s = Store(db_location)
    yield s
    s.close()


def _imap(uid: int) -> Origin:
    return Origin("imap", account="acct", folder="INBOX", uidvalidity=1, uid=uid)


def test_day_totals_follow_import_duplicates_reparse_deletion_and_forged_marks(store):
    first = [
        RawInput("r1.json", to_json(_report("r1", "2026-05-01")), Origin("file", "r1.json")),
        RawInput("r2.json", to_json(_report("r2", "2026-05-02", 7, 0)),
                 Origin("file", "r2.json")),
        RawInput("acct/INBOX/1", to_mail(report("Other Org", "m1", "2026-05-02", [
            sts_policy("c.org", 3, 1)]), msgid=1), _imap(1)),
    ]
    ingest_stream(store, first)
    assert db.counts(store)["reports"] == 3
    assert_totals_fresh(store)

    # the same bytes again, and the same report from elsewhere: duplicates, nothing counted
    again = ingest_stream(store, [*first, RawInput(
        "copy.json", to_json(_report("r1", "2026-05-01")), Origin("file", "copy.json"))])
    assert again.new == 0
    assert db.counts(store)["reports"] == 3
    assert_totals_fresh(store)

    # r1's stored bytes change (other counts: re-derived in place); r2's become another
    # report (r2 is deleted, r2b added): reparse keeps the totals in step
    def rewrite(name: str, data: bytes) -> None:
        store.conn.execute("UPDATE raw_inputs SET data_zlib = ?, size = ? WHERE source = ?",
                           (zlib.compress(data), len(data), name))

    rewrite("r1.json", to_json(_report("r1", "2026-05-01", 40, 9)))
    rewrite("r2.json", to_json(_report("r2b", "2026-05-03", 1, 1)))
    summary = reparse_all(store)
    assert (summary.updated, summary.removed, summary.added) == (1, 1, 1)
    assert_totals_fresh(store)

    # the mail's DKIM verdict turns to fail (forged): its report moves to the forged totals
    (mail_pk,) = store.conn.execute(
        "SELECT id FROM raw_inputs WHERE origin_kind = 'imap'").fetchone()
    with store.transaction():
        db.set_input_dkim(store, mail_pk, DkimVerdict("fail", "org.example", "s1"))
    assert store.conn.execute("SELECT count(*) FROM report_days WHERE forged = 1"
                              ).fetchone()[0] == 1
    assert_totals_fresh(store)
    all_days = q.daily_totals(store, None, 5, date(2026, 5, 4))
    honest = q.daily_totals(store, None, 5, date(2026, 5, 4), include_forged=False)
    assert sum(d.failed for d in all_days) - sum(d.failed for d in honest) == 1
    # what the fronts say they left out: the forged report, by id and by count in a window
    forged_pk = store.conn.execute("SELECT id FROM reports WHERE input_id = ?",
                                   (mail_pk,)).fetchone()[0]
    assert q.forged_reports(store) == {forged_pk}
    assert q.forged_report_count(store, date(2026, 5, 1), date(2026, 5, 4)) == 1
    assert q.forged_report_count(store, date(2026, 6, 1), date(2026, 6, 30)) == 0
    with store.transaction():
        db.set_input_dkim(store, mail_pk, DkimVerdict("pass", "org.example", "s1", True))
    assert_totals_fresh(store)
    assert store.conn.execute("SELECT count(*) FROM report_days WHERE forged = 1"
                              ).fetchone()[0] == 0

    # reports deleted: nothing of them is left in the totals
    with store.transaction():
        db.delete_reports(store, [pk for (pk,) in store.conn.execute("SELECT id FROM reports")])
    assert_totals_fresh(store)
    assert store.conn.execute("SELECT count(*) FROM report_days").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM policy_days").fetchone()[0] == 0


def test_an_existing_store_is_filled_by_the_migration(db_location):
    with Store(db_location) as s:
        ingest_stream(s, [
            RawInput(f"r{i}.json", to_json(_report(f"r{i}", f"2026-05-0{1 + i % 3}", i, i % 2)),
                     Origin("file", f"r{i}.json"))
            for i in range(9)
        ] + [RawInput("odd.json", to_json(report("Odd", "odd", "2026-05-01", [
            sts_policy('Quote"d\\.example', 1, 1), sts_policy("ü.example", 2, 0)])),
            Origin("file", "odd.json"))])
        (pk,) = s.conn.execute("SELECT min(id) FROM raw_inputs").fetchone()
        with s.transaction():
            db.set_input_dkim(s, pk, DkimVerdict("fail"))
        before = (kept_report_days(s), kept_policy_days(s))
        sets = sorted(d for (d,) in s.conn.execute("SELECT domains FROM domain_sets"))
        # back to a version-6 store: the tables of migration 007 were never there
        with s.transaction():
            for table in ("report_days", "policy_days", "domain_set_members", "domain_sets"):
                s.conn.execute(f"DROP TABLE {table}")
            # ...nor those of migration 008 (leases, who delivered, the change feed)
            s.conn.execute("DROP TABLE leases")
            s.conn.execute("ALTER TABLE alert_deliveries DROP COLUMN delivered_by")
            s.conn.execute("DROP TABLE alert_pending_reports")  # ...nor that of 010
            if s.dialect != "sqlite":
                s.conn.execute("DROP FUNCTION tlsrpt_notify_change() CASCADE")
            if s.dialect == "sqlite":
                s.conn.execute("PRAGMA user_version = 6")
            else:
                s.conn.execute("UPDATE tlsrpt_schema SET version = 6")
    with Store(db_location) as s:
        assert (kept_report_days(s), kept_policy_days(s)) == before
        # the migration spells each set's key as the program does: no set twice
        assert sorted(d for (d,) in s.conn.execute("SELECT domains FROM domain_sets")) == sets
        assert_totals_fresh(s)


def test_the_charts_and_busiest_domains_read_the_totals(store):
    ingest_stream(store, [
        RawInput(f"r{i}.json", to_json(_report(f"r{i}", f"2026-05-0{1 + i}", 10 * i, i)),
                 Origin("file", f"r{i}.json"))
        for i in range(3)
    ])
    days = q.daily_totals(store, "b.EXAMPLE.", 4, date(2026, 5, 4))
    assert [(d.day.day, d.successful, d.failed) for d in days] == [
        (1, 5, 1), (2, 5, 2), (3, 5, 3), (4, 0, 0)]
    everything = q.daily_totals(store, None, 3, date(2026, 5, 3))
    assert [(d.successful, d.failed) for d in everything] == [
        (0 + 1 + 5, 0 + 1), (10 + 11 + 5, 1 + 2), (20 + 21 + 5, 2 + 3)]
    assert q.busiest_domains(store, 5) == ["a.example", "b.example"]
    assert q.busiest_domains(store, 1, date(2026, 5, 3)) == ["a.example"]


def test_a_day_beyond_64_bits_falls_back_to_summing_the_rows(store):
    big = 2**62
    ingest_stream(store, [
        RawInput(f"r{i}.json", to_json(report("Big", f"r{i}", "2026-05-01", [
            sts_policy("a.example", big, 0)])), Origin("file", f"r{i}.json"))
        for i in range(3)
    ])
    assert q.table_total(store, "overview") == q.TableTotal(3, 3 * big, 0)
    assert q.table_total(store, "policies", q.TableFilter(domain="a.example")) == \
        q.TableTotal(3, 3 * big, 0)
    [day] = q.daily_totals(store, "a.example", 1, date(2026, 5, 1))
    assert day.successful == 3 * big


def test_a_batch_of_many_reports_sums_its_totals_once_and_exactly(store, monkeypatch):
    """One transaction writes many reports (the sync's batch): the totals are summed in memory
    and written at its end, and still equal a fresh aggregation, whatever the batch did
    between: reports of one day and of new domain sets, a duplicate, a forged mail, an input
    whose rows were rolled back to its SAVEPOINT, a verdict changed and reports deleted in
    the same transaction."""
    real_insert = db.insert_report_rows

    def failing(store, rows, input_pk, input_index=0):  # type: ignore[no-untyped-def]
        pk = real_insert(store, rows, input_pk, input_index)  # counted, then it fails
        if rows[0][2] == "boom":  # the report id
            raise OverflowError("simulated")
        return pk

    real_batch = db.insert_new_mails

    def failing_batch(store, mails):  # type: ignore[no-untyped-def]  # PostgreSQL's path
        out = real_batch(store, mails)
        if any(m.rows[0][2] == "boom" for m in mails):  # the report id
            raise OverflowError("simulated")
        return out

    real_inputs = db.insert_inputs

    def failing_inputs(store, inputs):  # type: ignore[no-untyped-def]  # SQLite's batch path
        out = real_inputs(store, inputs)
        if any(rows[0][2] == "boom" for one in inputs for _, rows in one.reports):
            raise OverflowError("simulated")
        return out

    monkeypatch.setattr(db, "insert_report_rows", failing)
    monkeypatch.setattr(db, "insert_new_mails", failing_batch)
    monkeypatch.setattr(db, "insert_inputs", failing_inputs)
    items = [RawInput(f"r{i}.json", to_json(_report(f"r{i}", f"2026-05-0{1 + i % 2}", i, i % 3)),
                      Origin("file", f"r{i}.json")) for i in range(12)]
    items += [
        RawInput("dup.json", to_json(_report("r3", "2026-05-02", 3, 0)),
                 Origin("file", "dup.json")),
        RawInput("boom.json", to_json(_report("boom", "2026-05-01", 99, 99)),
                 Origin("file", "boom.json")),
        RawInput("new-set.json", to_json(report("Other", "n1", "2026-05-01", [
            sts_policy("c.org", 4, 1), sts_policy("d.org", 1, 0)])),
            Origin("file", "new-set.json")),
        RawInput("acct/INBOX/1", to_mail(report("Other", "m1", "2026-05-01", [
            sts_policy("c.org", 3, 1)]), msgid=1), _imap(1),
            dkim=DkimVerdict("fail", "org.example", "s1")),
    ]
    summary = ingest_stream(store, items, batch_size=100)  # one transaction
    assert (summary.new, summary.rejected) == (14, 1)
    assert store.conn.execute(
        "SELECT count(*) FROM reports WHERE report_id = 'boom'").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM report_days WHERE forged = 1"
                              ).fetchone()[0] == 1
    assert_totals_fresh(store)

    # in one transaction: a new report, then its input's verdict turns to fail, then two
    # older reports are deleted: the pending sums follow each step
    with store.transaction():
        [late] = ingest_batch(store, [RawInput(
            "late.json", to_json(_report("late", "2026-05-01", 5, 5)),
            Origin("file", "late.json"))])
        assert late.new_reports == 1 and late.input_pk is not None
        db.set_input_dkim(store, late.input_pk, DkimVerdict("fail", "x.example", "s"))
        gone = [r for (r,) in store.conn.execute(
            "SELECT id FROM reports WHERE report_id IN ('r0', 'r5')")]
        db.delete_reports(store, gone)
    assert store.conn.execute("SELECT count(*) FROM report_days WHERE forged = 1"
                              ).fetchone()[0] == 2
    assert_totals_fresh(store)


def test_a_batch_in_progress_never_holds_the_day_totals(pg_location):
    """PostgreSQL: while one worker's batch is still open, another's batch of the same day
    commits without waiting (the day rows are locked only at the very end of a batch; they
    used to be locked from its first report on, so N workers ran one after the other)."""
    def batch(prefix: str) -> list[RawInput]:
        return [RawInput(f"{prefix}{i}.json", to_json(_report(f"{prefix}{i}", "2026-05-01")),
                         Origin("file", f"{prefix}{i}.json")) for i in range(5)]

    with Store(pg_location) as first, Store(pg_location) as second:
        ingest_stream(first, batch("seed"))  # the day rows exist: the batches update them
        second.conn.execute("SET lock_timeout = '20s'")
        with first.transaction():
            ingest_batch(first, batch("a"))
            summary = ingest_stream(second, batch("b"))  # would wait for first's COMMIT
            assert summary.new == 5
        assert db.counts(first)["reports"] == 15
        assert_totals_fresh(first)
