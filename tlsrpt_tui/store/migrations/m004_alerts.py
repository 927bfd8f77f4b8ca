"""Migration 004: alerts, their delivery per channel, and the alert engine's own state.

- ``alerts``: one row per alert, UNIQUE on its dedup ``key`` (``INSERT OR IGNORE`` makes raising
  twice harmless). Written in the transaction that advances what it was derived from (the
  report cursor, a check result, a condition's state), before any attempt to send it.
- ``alert_deliveries``: one row per (alert, channel) with its state (pending / delivered), the
  attempt count and the last error. A channel sends its pending rows in alert order; a row is
  marked delivered right after the server accepted it, so a kill -9 in between re-sends that
  one alert once (same Message-ID / key), and a restart never re-sends a delivered one.
- ``alert_state``: small named values: the report cursor (the highest report id already
  considered), which folders finished their first sync (backlog), open conditions (a sender's
  gap, an account failing to sync, a failing channel) and the last severity of check items.
- Reports already stored when this migration runs are never announced: the cursor starts at
  the highest report id, and folders that were synced before count as past their first sync.
"""

SQL = """
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    domain TEXT NOT NULL,
    summary TEXT NOT NULL,
    details_json TEXT NOT NULL,
    body TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    report_pk INTEGER
);
CREATE INDEX alerts_raised ON alerts (id DESC);
CREATE TABLE alert_deliveries (
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (channel, alert_id)
    WHERE state = 'pending';
CREATE TABLE alert_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO alert_state (name, value, updated_at)
    SELECT 'report-cursor', CAST(coalesce(max(id), 0) AS TEXT), datetime('now') FROM reports;
INSERT INTO alert_state (name, value, updated_at)
    SELECT 'first-sync-done:' || account || '/' || folder, '{}', datetime('now')
    FROM imap_folders WHERE last_uid > 0;
CREATE INDEX raw_inputs_not_report ON raw_inputs (id DESC) WHERE status = 'not-report'
"""
