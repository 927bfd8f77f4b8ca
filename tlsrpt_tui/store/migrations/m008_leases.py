"""Migration 008: leases, so that several workers share one store without doing a job twice.

- ``leases``: one row per piece of work a worker has taken: an IMAP folder
  (``imap:ACCOUNT/FOLDER``), a domain's check (``check:DOMAIN``), an alert channel's queue
  (``deliver:CHANNEL``). ``holder`` is ``host:pid:random`` (the host and pid let a worker on the
  same host see at once that a holder died), ``expires_at`` / ``heartbeat_at`` are Unix
  seconds: the holder renews the lease while it works and deletes the row when it stops; a
  row whose ``expires_at`` has passed is free for another worker to take over. ``state`` says
  what the holder is doing (``working`` / ``idle``), so a one-shot ``sync`` knows whether to
  wait for a folder (a batch is on its way into the store) or leave it to its watcher.
- ``alert_deliveries.delivered_by``: the worker that sent it (the proof that one did).
- PostgreSQL only: the change feed. Every statement that writes what a TUI shows (inputs,
  reports, check results, alerts and their delivery, the alert engine's conditions, IMAP
  positions) sends ``NOTIFY tlsrpt_tui_changes`` with the table's name, from a statement
  trigger, so inside the writing transaction: listeners hear it when (and only if) it
  commits, whichever program wrote it. SQLite has no such thing; its readers poll
  ``PRAGMA data_version``.
"""

SQL = """
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    holder TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'working',
    acquired_at DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX leases_kind ON leases (kind, name);
ALTER TABLE alert_deliveries ADD COLUMN delivered_by TEXT
"""

#: The tables whose changes a TUI shows (a NOTIFY per writing statement, deduplicated per
#: transaction by PostgreSQL).
NOTIFY_TABLES = ("raw_inputs", "reports", "check_results", "alerts", "alert_deliveries",
                 "alert_state", "imap_folders")

PG_SQL = SQL + """;
CREATE FUNCTION tlsrpt_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tlsrpt_tui_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
""" + ";\n".join(
    f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON {table}"
    " FOR EACH STATEMENT EXECUTE FUNCTION tlsrpt_notify_change()"
    for table in NOTIFY_TABLES
)
