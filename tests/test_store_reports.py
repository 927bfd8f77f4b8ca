"""The report store: schema and migrations, raw inputs first, de-duplication, round trips."""

from __future__ import annotations

import os
import sqlite3
import stat
import zlib
from datetime import UTC, datetime

import pytest
from report_factory import DMARC_MAIL, failure, report, sts_policy, tlsa_policy, to_json, to_mail

from tlsrpt_tui.core.model import InputStatus, Origin, RawInput
from tlsrpt_tui.core.parse import parse_bytes
from tlsrpt_tui.service.ingest import OutcomeKind, ingest_batch, ingest_stream
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store, load_migrations
from tlsrpt_tui.store.migrations import m001_reports


def _raw(data: bytes, name: str = "r.json") -> RawInput:
    return RawInput(name, data, Origin("file", name))


def _rep(rid: str = "rid-1", day: str = "2026-05-01", org: str = "Sender Inc.") -> dict:
    return report(org, rid, day, [
        sts_policy("example.org", 10, 3, details=[
            failure("certificate-expired", 2, sending="192.0.2.1", mx="mx1.example.net"),
            failure("starttls-not-supported", 1, ip="198.51.100.7", code="no STARTTLS"),
        ]),
        tlsa_policy("example.org", 10, 0, records=3),
    ])


def test_new_store_file_is_owner_only_and_fully_migrated(tmp_path):
    path = tmp_path / "sub" / "store.sqlite3"
    with Store(path) as store:
        assert store.schema_version == len(load_migrations())
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert {"raw_inputs", "reports", "policies", "failure_details"} <= tables
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_old_version_store_is_upgraded_in_place(tmp_path):
    """A store written by a program that only knew migration 001 keeps its data when opened."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for statement in m001_reports.SQL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT INTO raw_inputs (source, origin_kind, origin_key, sha256, size, data_zlib,"
        " imported_at, status, parser_version) VALUES ('old.json', 'file', 'k', x'00', 3,"
        " ?, '2026-01-01T00:00:00+00:00', 'rejected', '0.0.1')",
        (zlib.compress(b"old"),),
    )
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version == len(load_migrations()) >= 1
        assert db.counts(store)["raw_inputs"] == 1
        assert db.raw_bytes(store, 1) == b"old"


def test_report_round_trips_through_the_store(tmp_path, new_db):
    data = to_json(_rep())
    parsed = parse_bytes(data, "r.json")
    with Store(new_db("s")) as store:
        with store.transaction():
            [outcome] = ingest_batch(store, [_raw(data)])
        assert outcome.kind is OutcomeKind.NEW and outcome.new_reports == 1
        loaded, input_pk = db.load_report(store, 1)
        assert loaded == parsed.reports[0]
        assert input_pk == outcome.input_pk
        assert db.raw_bytes(store, input_pk) == data
        row = store.conn.execute("SELECT successful, failed, policy_types FROM reports").fetchone()
        assert tuple(row) == (20, 3, "STS, TLSA")
        detail = store.conn.execute("SELECT detail_failed FROM policies WHERE ordinal = 0")
        assert detail.fetchone()[0] == 3
        meta = db.get_input(store, input_pk)
        assert meta.status is InputStatus.REPORT and meta.origin == Origin("file", "r.json")
        assert meta.size == len(data)


def test_same_report_twice_is_a_duplicate_and_same_bytes_same_origin_stored_once(tmp_path, new_db):
    data = to_json(_rep())
    with Store(new_db("s")) as store:
        first = ingest_stream(store, [_raw(data)])
        again = ingest_stream(store, [_raw(data)])
        elsewhere = ingest_stream(store, [_raw(data, "copy/r.json")])
        assert (first.new, first.duplicate) == (1, 0)
        assert (again.new, again.duplicate) == (0, 1)
        assert (elsewhere.new, elsewhere.duplicate) == (0, 1)
        counts = db.counts(store)
        # Same bytes + same origin: one row; same bytes from another path: kept (traceable).
        assert counts["raw_inputs"] == 2
        assert counts["reports"] == 1
        assert counts["policies"] == 2
        assert counts["failure_details"] == 2


def test_dedup_key_is_case_insensitive_on_the_sender_and_distinguishes_ranges(tmp_path, new_db):
    items = [
        _raw(to_json(_rep(org="Sender Inc.")), "a.json"),
        _raw(to_json(_rep(org="SENDER INC.")), "b.json"),  # same report, other spelling
        _raw(to_json(_rep(day="2026-05-02")), "c.json"),  # same id, other range: new
        _raw(to_json(_rep(rid="rid-2")), "d.json"),  # other id: new
    ]
    with Store(new_db("s")) as store:
        summary = ingest_stream(store, items)
    assert (summary.new, summary.duplicate) == (3, 1)


def test_rejected_input_is_stored_with_its_error_and_not_report_is_not(tmp_path, new_db):
    bad = b'{"organization-name": "X", "policies": ['
    with Store(new_db("s")) as store:
        with store.transaction():
            outcomes = ingest_batch(
                store, [_raw(bad, "bad.json"), _raw(DMARC_MAIL, "dmarc.eml")]
            )
        assert [o.kind for o in outcomes] == [OutcomeKind.REJECTED, OutcomeKind.NOT_REPORT]
        assert outcomes[0].error and outcomes[0].line.startswith("bad.json: ")
        assert outcomes[1].input_pk is None
        rows = store.conn.execute("SELECT source, status, error FROM raw_inputs").fetchall()
        assert [(r[0], r[1]) for r in rows] == [("bad.json", "rejected")]
        assert rows[0][2] == outcomes[0].error
        assert db.raw_bytes(store, outcomes[0].input_pk) == bad


def test_mail_keeps_envelope_fields_and_imap_origin(tmp_path, new_db):
    rep = _rep()
    mail = to_mail(rep, submitter="google.example", msgid=7)
    origin = Origin("imap", account="acct", folder="INBOX", uidvalidity=99, uid=7)
    with Store(new_db("s")) as store:
        with store.transaction():
            [o] = ingest_batch(store, [RawInput("acct/INBOX/7", mail, origin)])
        assert o.kind is OutcomeKind.NEW
        loaded, pk = db.load_report(store, 1)
        assert loaded.submitter == "google.example"
        assert loaded.report_domain == "example.org"
        assert loaded.subject_report_id == rep["report-id"]
        assert db.get_input(store, pk).origin == origin
        # The same message fetched again from the same UID: stored once.
        with store.transaction():
            [o2] = ingest_batch(store, [RawInput("acct/INBOX/7", mail, origin)])
        assert o2.kind is OutcomeKind.DUPLICATE and o2.input_pk == pk
        assert db.counts(store)["raw_inputs"] == 1


def test_batch_is_all_or_nothing_inside_the_callers_transaction(tmp_path, new_db):
    with Store(new_db("s")) as store:
        with pytest.raises(RuntimeError), store.transaction():
            ingest_batch(store, [_raw(to_json(_rep()))])
            raise RuntimeError("sync state write failed")
        assert db.counts(store) == {
            "raw_inputs": 0, "reports": 0, "policies": 0, "failure_details": 0
        }


def test_ingest_stream_commits_per_batch_and_reports_progress(tmp_path, new_db):
    items = [_raw(to_json(_rep(rid=f"r{i}")), f"{i}.json") for i in range(7)]
    seen: list[tuple[int, int]] = []
    with Store(new_db("s")) as store:
        summary = ingest_stream(
            store, iter(items), batch_size=3,
            on_progress=lambda s: seen.append((s.inputs, s.new)),
        )
        assert store.conn.in_transaction is False
    assert seen == [(3, 3), (6, 6), (7, 7)]
    assert summary.line() == "7 new, 0 duplicate, 0 rejected"
    assert summary.ok


def test_datetimes_are_stored_as_sortable_utc_text(tmp_path, new_db):
    rep = _rep()
    rep["date-range"] = {
        "start-datetime": "2026-05-01T02:00:00+02:00",
        "end-datetime": "2026-05-02T01:59:59+02:00",
    }
    with Store(new_db("s")) as store:
        ingest_stream(store, [_raw(to_json(rep))])
        start, end = store.conn.execute('SELECT start, "end" FROM reports').fetchone()
        loaded, _ = db.load_report(store, 1)
    assert (start, end) == ("2026-05-01T00:00:00+00:00", "2026-05-01T23:59:59+00:00")
    assert loaded.start == datetime(2026, 5, 1, tzinfo=UTC)


def test_stored_dedup_sender_matches_the_models_dedup_key():
    parsed = parse_bytes(to_mail(_rep(org="  Mixed CASE Org "), submitter="Sub.Example"), "m.eml")
    [rep] = parsed.reports
    assert db.dedup_who(rep) == rep.dedup_key[0] == "mixed case org"
    no_sub = parse_bytes(to_json(_rep(org="  Mixed CASE Org ")), "r.json").reports[0]
    assert db.dedup_who(no_sub) == no_sub.dedup_key[0] == "mixed case org"
    no_org = parse_bytes(to_mail(_rep(org=""), submitter="Sub.Example"), "n.eml").reports[0]
    assert db.dedup_who(no_org) == no_org.dedup_key[0] == "sub.example"


def test_same_report_by_mail_and_as_json_file_is_one_report(tmp_path, new_db):
    """The mail's submitter header differs from the JSON organization; the JSON decides."""
    rep = _rep(org="Example Sender Inc.", rid="cross-channel")
    with Store(new_db("s")) as store:
        first = ingest_stream(store, [_raw(to_mail(rep, submitter="sender.example"))])
        second = ingest_stream(store, [_raw(to_json(rep))])
        count = store.conn.execute("SELECT count(*) FROM reports").fetchone()[0]
    assert (first.line(), second.line()) == (
        "1 new, 0 duplicate, 0 rejected",
        "0 new, 1 duplicate, 0 rejected",
    )
    assert count == 1


def test_counts_beyond_64_bits_reject_the_input_not_the_batch(tmp_path, new_db):
    huge = _rep(rid="huge")
    huge["policies"][1]["summary"]["total-successful-session-count"] = 2**63 - 1  # sum overflows
    items = [_raw(to_json(_rep(rid="ok-1")), "1.json"), _raw(to_json(huge), "2.json"),
             _raw(to_json(_rep(rid="ok-3")), "3.json")]
    with Store(new_db("s")) as store:
        summary = ingest_stream(store, items)
        assert (summary.new, summary.rejected) == (2, 1)
        assert summary.problems == ["2.json: report 'huge': sum of the session counts is too"
                                    " large to store"]
        status = store.conn.execute("SELECT status FROM raw_inputs WHERE source = '2.json'")
        assert status.fetchone()[0] == "rejected"


def test_a_store_failure_rolls_back_only_that_input(tmp_path, monkeypatch, new_db):
    real_insert = db.insert_report_rows

    def flaky(store, rows, input_pk, input_index=0):
        if rows[0][2] == "boom":  # the report id
            real_insert(store, rows, input_pk, input_index)  # partial rows, then failure
            raise OverflowError("simulated")
        return real_insert(store, rows, input_pk, input_index)

    real_batch = db.insert_new_mails

    def flaky_batch(store, mails):  # PostgreSQL's batch path: written, then a failure
        out = real_batch(store, mails)
        if any(m.rows[0][2] == "boom" for m in mails):  # the report id
            raise OverflowError("simulated")
        return out

    real_inputs = db.insert_inputs

    def flaky_inputs(store, inputs):  # SQLite's batch path: written, then a failure
        out = real_inputs(store, inputs)
        if any(rows[0][2] == "boom" for one in inputs for _, rows in one.reports):
            raise OverflowError("simulated")
        return out

    monkeypatch.setattr(db, "insert_report_rows", flaky)
    monkeypatch.setattr(db, "insert_new_mails", flaky_batch)
    monkeypatch.setattr(db, "insert_inputs", flaky_inputs)
    items = [_raw(to_json(_rep(rid="boom")), "boom.json"), _raw(to_json(_rep(rid="ok")), "ok.json")]
    with Store(new_db("s")) as store:
        with store.transaction():
            outcomes = ingest_batch(store, items)
        assert [o.kind for o in outcomes] == [OutcomeKind.REJECTED, OutcomeKind.NEW]
        assert outcomes[0].error == "cannot store: OverflowError: simulated"
        assert [r[0] for r in store.conn.execute("SELECT report_id FROM reports")] == ["ok"]
        assert db.counts(store)["policies"] == 2  # only ok's two policies


def test_non_utf8_file_names_are_stored(tmp_path, new_db):
    name = os.fsdecode(b"caf\xe9.json")  # latin-1 byte: a lone surrogate in str
    with Store(new_db("s")) as store:
        summary = ingest_stream(store, [_raw(to_json(_rep()), name)])
        assert summary.new == 1
        [(source,)] = store.conn.execute("SELECT source FROM raw_inputs").fetchall()
    assert source == "caf\\xe9.json"


def test_data_version_moves_when_another_connection_commits(db_location):
    """The TUI polls it to refresh: quiet while nothing is written, moved by another writer's
    commit as soon as it is visible (no polling delay of the store's own)."""
    with Store(db_location) as reader, Store(db_location) as writer:
        before = reader.data_version()
        assert db.counts(reader)["reports"] == 0
        assert reader.data_version() == before  # reading changes nothing
        ingest_stream(writer, [_raw(to_json(_rep()))])
        assert reader.data_version() != before
        assert db.counts(reader)["reports"] == 1


def test_a_nul_character_in_report_text_does_not_make_it_unstorable(db_location):
    """JSON can carry \\u0000; PostgreSQL text cannot hold it (it stores U+FFFD there)."""
    rep = _rep(org="Evil\u0000Org", rid="nul\u0000id")
    with Store(db_location) as store:
        summary = ingest_stream(store, [_raw(to_json(rep))])
        again = ingest_stream(store, [_raw(to_json(rep), "again.json")])
        org, rid = store.conn.execute("SELECT organization, report_id FROM reports").fetchone()
    assert (summary.new, again.duplicate) == (1, 1)
    nul = "\ufffd" if store.dialect == "postgresql" else "\x00"
    assert (org, rid) == (f"Evil{nul}Org", f"nul{nul}id")


def _parsed_report(rep: dict):
    parsed = parse_bytes(to_json(rep), "r.json")
    assert parsed.status is InputStatus.REPORT
    return parsed.reports[0]


def test_report_rows_are_the_columns_the_store_reads_back(tmp_path):
    """The one-pass rows (computed in the parser processes) hold what each column means."""
    rep = _parsed_report(_rep())
    values, policies, shape = db.report_rows(rep)
    columns = dict(zip(db._REPORT_VALUE_COLUMNS.replace('"', "").split(", "), values, strict=True))
    assert (columns["successful"], columns["failed"]) == (20, 3)
    assert columns["policy_domains"] == "example.org"  # once, though two policies name it
    assert columns["policy_types"] == "STS, TLSA"
    assert columns["search"] == db.search_text(rep)
    assert columns["search"].split("\n")[-2:] == ["certificate-expired", "starttls-not-supported"]
    assert [row[0][0] for row in policies] == [0, 1]  # ordinals
    assert policies[0][0][-1] == 3 and len(policies[0][1]) == 2  # detail sum, detail rows
    assert policies[1][1] == ()
    assert shape == ("2026-05-01", 20, 3, (("example.org", 10, 3), ("example.org", 10, 0)))


def test_a_report_beyond_64_bits_is_unstorable_and_says_why():
    """Each count the parser accepts fits in 64 bits; their sums may not."""
    big = 2**63 - 1
    rep = _rep()
    rep["policies"][1]["summary"]["total-successful-session-count"] = big
    with pytest.raises(db.Unstorable, match=r"^sum of the session counts is too large to store$"):
        db.report_rows(_parsed_report(rep))
    rep = report("Sender Inc.", "rid-2", "2026-05-01", [
        sts_policy("example.org", 1, 1, details=[failure("certificate-expired", big),
                                                  failure("validation-failure", 2)])])
    with pytest.raises(db.Unstorable, match=rf"^policies\[0\] failure-details sum {big + 2} is"):
        db.report_rows(_parsed_report(rep))
