"""Migration 007: leases, so that several workers share one store without doing a job twice.

- ``leases``: one row per piece of work a worker has taken: an IMAP folder
  (``imap:ACCOUNT/FOLDER``), a domain's check (``check:DOMAIN``), an alert channel's queue
  (``deliver:CHANNEL``). ``holder`` is ``host:pid:random`` (the host and pid let a worker on the
  same host see at once that a holder died), ``expires_at`` / ``heartbeat_at`` are Unix
  seconds: the holder renews the lease while it works and deletes the row when it stops; a
  row whose ``expires_at`` has passed is free for another worker to take over. ``state`` says
  what the holder is doing (``working`` / ``idle``), so a one-shot ``sync`` knows whether to
  wait for a folder (a batch is on its way into the store) or leave it to its watcher.
- ``alert_deliveries.delivered_by``: the worker that sent it (the proof that one did).
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
