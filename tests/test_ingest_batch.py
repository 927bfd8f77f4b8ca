"""A batch written whole (one statement per table: ``store.reports.insert_inputs`` on SQLite,
``insert_new_mails`` on PostgreSQL) leaves exactly what storing its inputs one by one leaves.

Two stores of the same backend start equal; the same mixed batch goes into each, once by the
batch path and once by the per-input path (``ingest_batch``'s replay after a failure, forced
here). Their outcomes and every row of the report tables, the alert engine's pending rows
and the day totals, ids included, must be equal.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest
from report_factory import DMARC_MAIL, failure, report, sts_policy, tlsa_policy, to_json, to_mail

from tlsrpt_tui.core.model import DkimVerdict, Origin, RawInput
from tlsrpt_tui.service import ingest
from tlsrpt_tui.service.ingest import OutcomeKind, ingest_batch
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store

TABLES = ("raw_inputs", "reports", "policies", "failure_details", "alert_pending_reports",
          "domain_sets", "domain_set_members", "report_days", "policy_days")


def _file(name: str, data: bytes, dkim: DkimVerdict | None = None) -> RawInput:
    return RawInput(name, data, Origin("file", name), dkim=dkim)


def _mail(uid: int, rep: dict, dkim: DkimVerdict | None = None) -> RawInput:
    return RawInput(f"acct/INBOX/{uid}", to_mail(rep, msgid=uid),
                    Origin("imap", account="acct", folder="INBOX", uidvalidity=7, uid=uid),
                    dkim=dkim)


def _zip(*reports: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, rep in enumerate(reports):
            zf.writestr(f"r{n}.json", to_json(rep))
    return buf.getvalue()


def _one(rid: str, day: str = "2026-05-01", domain: str = "a.example", ok: int = 10) -> dict:
    return report("Sender Inc.", rid, day, [sts_policy(domain, ok, 0)])


def _huge(rid: str) -> dict:
    return report("Sender Inc.", rid, "2026-05-02", [sts_policy("a.example", 2**63 - 1, 0),
                                                       sts_policy("b.example", 5, 0)])


OLD = _file("old.json", to_json(_one("old")))
SIGNED = _mail(5, _one("signed", "2026-05-03", "c.example"))
FIRST = [OLD, SIGNED, _file("bad-old.json", b"{not json")]

NEW = _file("new.json", to_json(report("Sender Inc.", "new", "2026-05-01", [
    sts_policy("a.example", 7, 3, details=[failure("certificate-expired", 2, mx="mx.a.example"),
                                          failure("validation-failure", 1, ip="192.0.2.1")]),
    tlsa_policy("b.example", 4, 0)])))
BATCH = [
    NEW,  # new, with failure details and a new domain set
    _file("dup-of-old.json", to_json(_one("old"))),  # its report is stored already
    OLD,  # the same bytes from the same origin again: the stored row is refreshed
    _mail(5, _one("signed", "2026-05-03", "c.example"),  # again, now failing DKIM: its
          dkim=DkimVerdict("fail", "sender.example", "s1")),  # report moves to forged
    RawInput("acct/INBOX/6", DMARC_MAIL, Origin("imap", account="acct", folder="INBOX",
                                               uidvalidity=7, uid=6)),  # not a report
    _file("huge.json", to_json(_huge("huge"))),  # unstorable: rejected, stored with why
    _file("bad.json", b"{not json"),  # unreadable: rejected
    _file("two.zip", _zip(_one("z1", "2026-05-04"), report(  # one new, one a duplicate of
        "Sender Inc.", "new", "2026-05-01", [sts_policy("x.example", 1, 1)]))),  # NEW's
    _file("dup-in-batch.json", to_json(_one("z1", "2026-05-04"))),  # the zip's, same batch
    NEW,  # the same bytes again within the batch: splits it, refreshes the first one
    _file("part.zip", _zip(_one("p1", "2026-05-05", "d.example"), _huge("p2"))),  # a part
    _mail(9, _one("forged", "2026-05-01", "a.example", 3),  # refused
          dkim=DkimVerdict("fail", "evil.example", "s2")),  # new, forged
    _file("last.json", to_json(_one("last", "2026-05-06"))),
    # two new inputs holding the same report (other counts): the first one's is the new one,
    # also when both go to PostgreSQL in one statement (its reports sorted by dedup key)
    _file("twin-a.json", to_json(_one("twin", "2026-05-07", "e.example", 4))),
    _file("twin-b.json", to_json(_one("twin", "2026-05-07", "e.example", 5))),
    _file("after-twin.json", to_json(_one("a-twin", "2026-05-07", "e.example", 6))),
    # NUL in its texts (PostgreSQL stores U+FFFD there, whichever path writes it)
    _file("nul.json", to_json(report("Sender\u0000 Inc.", "nul\u0000", "2026-05-08", [
        sts_policy("a.example", 1, 2, details=[failure("validation-failure", 2,
                                                       mx="mx\u0000.a.example")])]))),
]


#: Columns left out of the comparison: the clock, and on PostgreSQL the ids (a sequence
#: hands out an id to each insert tried, conflicting or not, so its ids never matched those
#: of one input at a time; its batch path also stores the inputs it takes first).
SKIPPED = {"imported_at"}
PG_SKIPPED = SKIPPED | {"id", "input_id", "report_pk", "policy_pk", "set_id"}


def _dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    skipped = SKIPPED if store.dialect == "sqlite" else PG_SKIPPED
    out = {}
    for table in TABLES:
        rows = store.conn.execute(f"SELECT * FROM {table}").fetchall()
        keep = [n for n, name in enumerate(rows[0].keys()) if name not in skipped] if rows else []
        out[table] = sorted((tuple(row[n] for n in keep) for row in rows), key=repr)
    return out


def _ingest(location: object, batch: list[RawInput], monkeypatch: pytest.MonkeyPatch | None):
    """FIRST then ``batch`` into a fresh store; with ``monkeypatch`` the batch paths fail
    (before writing anything), so ``ingest_batch`` stores input by input."""
    with Store(location) as store:  # type: ignore[arg-type]
        with store.transaction():
            ingest_batch(store, FIRST)
        if monkeypatch is not None:
            def refuse(*_args: object) -> None:
                raise ValueError("per input, please")

            monkeypatch.setattr(ingest, "_store_batch_sqlite", refuse)
            monkeypatch.setattr(ingest, "_store_batch_postgres", refuse)
        with store.transaction():
            outcomes = ingest_batch(store, batch)
        if monkeypatch is not None:
            monkeypatch.undo()
        if store.dialect != "sqlite":
            outcomes = [dataclasses.replace(o, input_pk=None) for o in outcomes]
        return outcomes, _dump(store)


def test_a_mixed_batch_stores_what_input_by_input_stores(new_db, monkeypatch):
    batched, rows = _ingest(new_db("batch"), BATCH, None)
    one_by_one, expected = _ingest(new_db("single"), BATCH, monkeypatch)
    assert batched == one_by_one
    assert rows == expected
    kinds = [o.kind for o in batched]
    assert kinds == [OutcomeKind.NEW, OutcomeKind.DUPLICATE, OutcomeKind.DUPLICATE,
                     OutcomeKind.DUPLICATE, OutcomeKind.NOT_REPORT, OutcomeKind.REJECTED,
                     OutcomeKind.REJECTED, OutcomeKind.NEW, OutcomeKind.DUPLICATE,
                     OutcomeKind.DUPLICATE, OutcomeKind.NEW, OutcomeKind.NEW, OutcomeKind.NEW,
                     OutcomeKind.NEW, OutcomeKind.DUPLICATE, OutcomeKind.NEW, OutcomeKind.NEW]
    assert batched[7].new_reports == batched[7].duplicate_reports == 1
    if new_db("batch").__class__.__name__ != "StoreLocation":  # SQLite: a path
        assert batched[9].input_pk == batched[0].input_pk  # the same bytes: one row
    assert len(batched[10].part_errors) == 1
    nul = "\ufffd" if new_db("batch").__class__.__name__ == "StoreLocation" else "\x00"
    assert (f"Sender{nul} Inc.", f"nul{nul}", f"mx{nul}.a.example") in {
        (org, rid, mx) for org, rid, mx in _texts(new_db("batch"))}
    forged = {(day, forged) for day, _, forged, *_ in rows["policy_days"] if forged}
    assert forged == {("2026-05-03", 1), ("2026-05-01", 1)}  # moved, and the new forged one


def _texts(location: object) -> list[tuple[str, str, str]]:
    with Store(location) as store:  # type: ignore[arg-type]
        return store.conn.execute(
            "SELECT r.organization, r.report_id, d.receiving_mx_hostname FROM reports r"
            " JOIN policies p ON p.report_pk = r.id"
            " JOIN failure_details d ON d.policy_pk = p.id").fetchall()


def test_a_batch_of_only_known_inputs_stores_what_input_by_input_stores(new_db, monkeypatch):
    """Every input stored before (a directory imported twice): no row lands, each is
    refreshed."""
    batched, rows = _ingest(new_db("batch"), FIRST, None)
    one_by_one, expected = _ingest(new_db("single"), FIRST, monkeypatch)
    assert batched == one_by_one
    assert rows == expected
    assert [o.kind for o in batched] == [OutcomeKind.DUPLICATE, OutcomeKind.DUPLICATE,
                                         OutcomeKind.REJECTED]


def test_ids_near_the_64_bit_limit_are_stored_input_by_input(tmp_path):
    """Beyond 2**62 SQLite may pick rowids at random, so the batch path does not count them:
    the batch is stored input by input instead, with the same outcomes."""
    with Store(tmp_path / "s.sqlite3") as store:
        with store.transaction():
            [first] = ingest_batch(store, [FIRST[2]])  # rejected: no report refers to it
            store.conn.execute("UPDATE raw_inputs SET id = ? WHERE id = ?",
                               (2**62 + 5, first.input_pk))
        with store.transaction():
            outcomes = ingest_batch(store, [OLD, BATCH[1]])
        assert [o.kind for o in outcomes] == [OutcomeKind.NEW, OutcomeKind.DUPLICATE]
        assert outcomes[0].input_pk == 2**62 + 6


def test_stored_input_keys_names_the_stored_inputs_among_digests(new_db):
    """PostgreSQL's batch path asks which of its inputs are stored (a query for both)."""
    with Store(new_db("s")) as store:
        with store.transaction():
            ingest_batch(store, [OLD, SIGNED])
        limits = ingest.default_limits()
        digests = [ingest.prepare(raw, limits).digest for raw in (OLD, SIGNED, NEW)]
        assert db.stored_input_keys(store, digests) == {
            (digests[0], db.origin_key(OLD.origin)), (digests[1], db.origin_key(SIGNED.origin))}
        assert db.stored_input_keys(store, []) == set()


def test_postgresql_inserts_a_batchs_reports_in_dedup_key_order(pg_location):
    """Two PostgreSQL writers storing the same reports (two accounts receiving them in
    different orders) must lock them in one order, or each can wait for the other (a
    deadlock, which PostgreSQL breaks by failing one batch). The batch statement inserts its
    reports by dedup key, whatever the inputs' order: their ids (taken as rows are inserted)
    rise with the key; of two inputs with one report the first still owns it."""
    reports = [_one(f"key-{n:02d}", "2026-06-01") for n in range(12)]
    batch = [_mail(100 + n, rep) for n, rep in enumerate(reversed(reports))]
    batch.append(_mail(200, reports[0]))  # the same report as batch[-2] (other bytes): later
    with Store(pg_location) as store:
        with store.transaction():
            outcomes = ingest_batch(store, batch)
        rows = store.conn.execute(
            "SELECT r.report_id, i.origin_uid FROM reports r"
            " JOIN raw_inputs i ON i.id = r.input_id ORDER BY r.id").fetchall()
    assert [o.kind for o in outcomes] == [OutcomeKind.NEW] * 12 + [OutcomeKind.DUPLICATE]
    assert [rid for rid, _ in rows] == [f"key-{n:02d}" for n in range(12)]
    assert rows[0][1] == 111  # key-00's owner: its first input (uid 111), not uid 200


def test_postgresql_plans_each_batch_for_its_arrays(pg_location):
    """The batch statement is never prepared: from psycopg's fifth call a prepared statement
    got PostgreSQL's generic plan at the tenth, planned for arrays of unknown length, and a
    long sync's server spent twice the CPU a mail from then on. Nor does its setting outlive
    it (nested loops stay allowed for the rest of the transaction)."""
    with Store(pg_location) as store:
        for batch in range(12):
            with store.transaction():
                outcomes = ingest_batch(store, [_mail(1000 + 3 * batch + n, _one(
                    f"plan-{batch}-{n}", "2026-06-02")) for n in range(3)])
                assert [o.kind for o in outcomes] == [OutcomeKind.NEW] * 3
                assert store.conn.execute("SHOW enable_nestloop").fetchone()[0] == "on"
        prepared = store.conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE ?",
            (db.PG_NEW_MAILS[:40] + "%",)).fetchone()[0]
        assert store.conn.execute("SELECT count(*) FROM reports").fetchone()[0] == 36
    assert prepared == 0
