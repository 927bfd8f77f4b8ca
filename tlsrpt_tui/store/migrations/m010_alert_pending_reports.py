"""Migration 010: the reports the alert engine has not considered yet, as rows, not a cursor.

Until now the engine kept the highest report id it had considered (``report-cursor`` in
``alert_state``) and read ``WHERE id > cursor``. On PostgreSQL ids come from a sequence when a
row is inserted, not when its transaction commits: with several writers (``watch`` workers,
the TUI's sync, ``receive``, ``import``) a transaction holding ids 100..110 can commit after
one holding 111..120, and a scan in between moved the cursor past reports it never saw: their
``report.failures`` were never raised and a first sync's backlog missed them.

``alert_pending_reports`` holds one row per report stored and not yet considered. The writer
inserts it in the transaction that stores the report (store/reports.py), so it exists exactly
when the report does; the engine deletes it in the transaction that stores what the report
raised (service/alerts.py). Commit order no longer matters: nothing committed is skipped,
nothing is considered twice. A deleted report takes its row with it (ON DELETE CASCADE).

Upgrade: the reports the old cursor had not passed yet (stored since the last scan) become
pending, exactly what the next scan would have considered; every report below it counts as
considered, so an upgrade raises nothing the old engine would not have. The cursor goes.
"""

SQL = """
CREATE TABLE alert_pending_reports (
    report_pk INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE
);
INSERT INTO alert_pending_reports (report_pk)
    SELECT r.id FROM reports r JOIN alert_state s ON s.name = 'report-cursor'
    WHERE r.id > CAST(s.value AS INTEGER);
DELETE FROM alert_state WHERE name = 'report-cursor'
"""

PG_SQL = """
CREATE TABLE alert_pending_reports (
    report_pk BIGINT PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE
);
INSERT INTO alert_pending_reports (report_pk)
    SELECT r.id FROM reports r JOIN alert_state s ON s.name = 'report-cursor'
    WHERE r.id > CAST(s.value AS BIGINT);
DELETE FROM alert_state WHERE name = 'report-cursor'
"""
