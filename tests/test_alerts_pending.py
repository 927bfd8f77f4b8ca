"""Every stored report is considered by the alert engine once: committed out of id order
(PostgreSQL, several writers), or waiting when the store was upgraded from the id cursor.

On PostgreSQL a transaction takes its report ids from a sequence when it inserts, not when it
commits: a writer that began first can commit last, with lower ids than reports a scan has
already seen. The alert engine must neither skip such a report (no ``report.failures``, a
backlog that misses it) nor consider one twice. Real server, real connections: one writer
holds its transaction open across a scan while another commits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peers.tlsrpt_mail import fresh_report

from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.service.alerts import Alerter
from tlsrpt_tui.service.config import AlertSettings
from tlsrpt_tui.service.ingest import ingest_batch
from tlsrpt_tui.store import alerts as db
from tlsrpt_tui.store.database import Store


def _store(store: Store, data: bytes, name: str, origin: Origin) -> int:
    """Store one report inside the caller's transaction; its report id."""
    [outcome] = ingest_batch(store, [RawInput(name, data, origin)])
    assert outcome.new_reports == 1, outcome
    [pk] = [int(r[0]) for r in store.conn.execute(
        "SELECT r.id FROM reports r JOIN raw_inputs i ON i.id = r.input_id"
        " WHERE i.origin_path = ? OR i.origin_uid = ?", (name, origin.uid))]
    return pk


def _failure_alerts(store: Store) -> list[int]:
    return [int(r[0]) for r in store.conn.execute(
        "SELECT report_pk FROM alerts WHERE code = 'report.failures' ORDER BY report_pk")]


def test_a_report_committed_after_a_scan_saw_higher_ids_still_raises_its_alert(
        pg_location) -> None:  # type: ignore[no-untyped-def]
    with Store(pg_location) as writer_a, Store(pg_location) as writer_b, \
            Store(pg_location) as engine:
        alerter = Alerter(engine, AlertSettings(), clock=lambda: datetime.now(UTC))
        with writer_a.transaction():  # A takes the lower id and commits last
            low = _store(writer_a, fresh_report(1), "a", Origin("http", path="a"))
            with writer_b.transaction():
                high = _store(writer_b, fresh_report(2), "b", Origin("http", path="b"))
            assert low < high
            seen = alerter.scan_reports()  # sees B's report only: A has not committed
            assert [x.report_pk for x in seen] == [high]
        late = alerter.scan_reports()
        assert [x.report_pk for x in late] == [low], "a report committed late was skipped"
        assert alerter.scan_reports() == []
        assert _failure_alerts(engine) == [low, high]  # each exactly once


def test_a_first_sync_backlog_counts_a_report_committed_out_of_id_order(
        pg_location) -> None:  # type: ignore[no-untyped-def]
    def imap(uid: int) -> Origin:
        return Origin("imap", account="acct", folder="INBOX", uidvalidity=7, uid=uid)

    with Store(pg_location) as writer_a, Store(pg_location) as writer_b, \
            Store(pg_location) as engine:
        alerter = Alerter(engine, AlertSettings(), clock=lambda: datetime.now(UTC))
        with writer_a.transaction():
            _store(writer_a, fresh_report(1), "u1", imap(1))
            with writer_b.transaction():
                _store(writer_b, fresh_report(2, failures=False), "u2", imap(2))
            alerter.scan_reports()
        [backlog] = alerter.folder_synced("acct", "INBOX")
        assert backlog.code == "report.backlog"
        assert backlog.details["reports"] == 2 and backlog.details["with_failures"] == 1
        assert _failure_alerts(engine) == []  # the backlog's reports are not announced
        assert db.get_state(engine, "backlog:acct/INBOX") is None


def test_an_upgraded_store_considers_what_its_cursor_had_not_passed_and_nothing_else(
        db_location) -> None:  # type: ignore[no-untyped-def]
    with Store(db_location) as store:
        with store.transaction():
            pks = [_store(store, fresh_report(i), f"r{i}", Origin("http", path=f"r{i}"))
                   for i in range(3)]
        # back to a version-9 store: no pending rows, a cursor after the first two reports
        with store.transaction():
            store.conn.execute("DROP TABLE alert_pending_reports")
            db.set_state(store, "report-cursor", pks[1])
            if store.dialect == "sqlite":
                store.conn.execute("PRAGMA user_version = 9")
            else:
                store.conn.execute("UPDATE tlsrpt_schema SET version = 9")
    with Store(db_location) as store:
        assert db.get_state(store, "report-cursor") is None
        alerter = Alerter(store, AlertSettings(), clock=lambda: datetime.now(UTC))
        assert [x.report_pk for x in alerter.scan_reports()] == [pks[2]]
        assert alerter.scan_reports() == []
