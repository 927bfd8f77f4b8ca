"""Migration 002: IMAP sync state per account and folder.

- ``imap_folders``: one row per (account, folder) with the UIDVALIDITY the UIDs belong to and
  ``last_uid``, the highest UID whose batch is committed. It is written in the same transaction
  as that batch's reports, so the store and the sync position can never disagree: after any
  interruption the next sync starts right after the last committed batch (no gap, no repeat).
  Counters are running totals, for the TUI's sync status and ``tlsrpt-tui sync``.
- ``imap_pending_moves``: messages whose batch is committed but that still have to be moved
  to the archive folder. Written with the batch, deleted after the MOVE succeeds, retried by
  the next sync, so an interruption between commit and MOVE leaves nothing behind.
"""

SQL = """
CREATE TABLE imap_folders (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL DEFAULT 0,
    last_sync TEXT,
    messages_seen INTEGER NOT NULL DEFAULT 0,
    messages_new INTEGER NOT NULL DEFAULT 0,
    messages_duplicate INTEGER NOT NULL DEFAULT 0,
    messages_rejected INTEGER NOT NULL DEFAULT 0,
    messages_not_report INTEGER NOT NULL DEFAULT 0,
    resyncs INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, folder)
);
CREATE TABLE imap_pending_moves (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    PRIMARY KEY (account, folder, uidvalidity, uid)
);
CREATE INDEX raw_inputs_imap_sha ON raw_inputs (origin_account, sha256)
    WHERE origin_kind = 'imap'
"""

#: PostgreSQL: UIDVALIDITY and UIDs are unsigned 32-bit, beyond INTEGER: BIGINT.
PG_SQL = """
CREATE TABLE imap_folders (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL DEFAULT 0,
    last_sync TEXT,
    messages_seen BIGINT NOT NULL DEFAULT 0,
    messages_new BIGINT NOT NULL DEFAULT 0,
    messages_duplicate BIGINT NOT NULL DEFAULT 0,
    messages_rejected BIGINT NOT NULL DEFAULT 0,
    messages_not_report BIGINT NOT NULL DEFAULT 0,
    resyncs BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account, folder)
);
CREATE TABLE imap_pending_moves (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    PRIMARY KEY (account, folder, uidvalidity, uid)
);
CREATE INDEX raw_inputs_imap_sha ON raw_inputs (origin_account, sha256)
    WHERE origin_kind = 'imap'
"""
