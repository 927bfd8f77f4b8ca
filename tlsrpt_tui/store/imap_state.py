"""IMAP sync position per (account, folder), and archive moves still owed.

Every write here is meant to run inside the transaction that stores the batch it describes
(``with store.transaction(): ingest…; advance(…)``): the position is only ever as far as the
committed reports, which is what makes an interrupted sync resume without gap or duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from tlsrpt_tui.store.database import Store


@dataclass(frozen=True, slots=True)
class FolderState:
    account: str
    folder: str
    uidvalidity: int
    last_uid: int
    last_sync: str | None
    messages_seen: int = 0
    messages_new: int = 0
    messages_duplicate: int = 0
    messages_rejected: int = 0
    messages_not_report: int = 0
    resyncs: int = 0


@dataclass(frozen=True, slots=True)
class BatchCounts:
    seen: int = 0
    new: int = 0
    duplicate: int = 0
    rejected: int = 0
    not_report: int = 0


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def get(store: Store, account: str, folder: str) -> FolderState | None:
    row = store.conn.execute(
        "SELECT * FROM imap_folders WHERE account = ? AND folder = ?", (account, folder)
    ).fetchone()
    return None if row is None else FolderState(**dict(row))


def all_states(store: Store) -> list[FolderState]:
    rows = store.conn.execute("SELECT * FROM imap_folders ORDER BY account, folder").fetchall()
    return [FolderState(**dict(r)) for r in rows]


def begin(store: Store, account: str, folder: str, uidvalidity: int) -> FolderState:
    """The position to sync from; a new UIDVALIDITY restarts the folder from UID 1.

    Old UIDs mean nothing under a new UIDVALIDITY (RFC 3501 §2.3.1.1), so the folder is read
    again from the start; its reports and raw inputs de-duplicate, so nothing is stored twice.
    Moves still owed under the old UIDVALIDITY are dropped: those UIDs no longer name anything.
    Call inside a transaction.
    """
    state = get(store, account, folder)
    if state is None:
        store.conn.execute(
            "INSERT INTO imap_folders (account, folder, uidvalidity, last_uid) VALUES (?, ?, ?, 0)",
            (account, folder, uidvalidity),
        )
    elif state.uidvalidity != uidvalidity:
        store.conn.execute(
            "UPDATE imap_folders SET uidvalidity = ?, last_uid = 0, resyncs = resyncs + 1"
            " WHERE account = ? AND folder = ?",
            (uidvalidity, account, folder),
        )
        store.conn.execute(
            "DELETE FROM imap_pending_moves WHERE account = ? AND folder = ? AND uidvalidity != ?",
            (account, folder, uidvalidity),
        )
    result = get(store, account, folder)
    assert result is not None
    return result


def advance(
    store: Store,
    account: str,
    folder: str,
    uidvalidity: int,
    last_uid: int,
    counts: BatchCounts,
) -> None:
    """Record a committed batch: new position and running totals. Call inside its transaction."""
    cur = store.conn.execute(
        "UPDATE imap_folders SET last_uid = CASE WHEN last_uid > ? THEN last_uid ELSE ? END,"
        " last_sync = ?,"
        " messages_seen = messages_seen + ?, messages_new = messages_new + ?,"
        " messages_duplicate = messages_duplicate + ?,"
        " messages_rejected = messages_rejected + ?,"
        " messages_not_report = messages_not_report + ?"
        " WHERE account = ? AND folder = ? AND uidvalidity = ?",
        (
            last_uid, last_uid, _now(), counts.seen, counts.new, counts.duplicate, counts.rejected,
            counts.not_report, account, folder, uidvalidity,
        ),
    )
    if cur.rowcount != 1:
        raise RuntimeError(f"{account}/{folder}: sync state changed under a running sync")


def touch(store: Store, account: str, folder: str) -> None:
    """A sync that found nothing new still counts as a sync (the TUI shows "last sync")."""
    store.conn.execute(
        "UPDATE imap_folders SET last_sync = ? WHERE account = ? AND folder = ?",
        (_now(), account, folder),
    )


def add_pending_moves(
    store: Store, account: str, folder: str, uidvalidity: int, uids: Iterable[int]
) -> None:
    store.conn.executemany(
        "INSERT INTO imap_pending_moves (account, folder, uidvalidity, uid)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(account, folder, uidvalidity, uid) for uid in uids],
    )


def pending_moves(store: Store, account: str, folder: str, uidvalidity: int) -> list[int]:
    rows = store.conn.execute(
        "SELECT uid FROM imap_pending_moves WHERE account = ? AND folder = ? AND uidvalidity = ?"
        " ORDER BY uid",
        (account, folder, uidvalidity),
    ).fetchall()
    return [int(r[0]) for r in rows]


def clear_pending_moves(
    store: Store, account: str, folder: str, uidvalidity: int, uids: Iterable[int]
) -> None:
    store.conn.executemany(
        "DELETE FROM imap_pending_moves WHERE account = ? AND folder = ? AND uidvalidity = ?"
        " AND uid = ?",
        [(account, folder, uidvalidity, uid) for uid in uids],
    )


def known_statuses_sql(count: int) -> str:
    """SQLite: ``known_input_statuses``' query for ``count`` digests, then the account."""
    return (f"SELECT sha256, status FROM raw_inputs WHERE sha256 IN ({', '.join('?' * count)})"
            " AND origin_kind = 'imap' AND origin_account = ?")


#: PostgreSQL: the same, the digests as one array sent in binary (as text, psycopg escapes
#: every byte)
PG_KNOWN_STATUSES = ("SELECT sha256, status FROM raw_inputs WHERE sha256 = ANY(%b)"
                     " AND origin_kind = 'imap' AND origin_account = %s")


def known_input_statuses(store: Store, account: str,
                         digests: Iterable[bytes]) -> dict[bytes, str]:
    """SHA-256 -> status of the digests whose bytes are already stored from this account
    (any folder, UIDVALIDITY, UID), for a whole batch: one query per 500 digests.

    A full resync after a UIDVALIDITY change, or a report moved between folders, brings back
    bytes we already hold under another origin; they are recognised here and not stored again.

    Each digest is looked up in the index that starts with it (the raw inputs' unique key).
    An index on (account, digest) is gone (migration 012): PostgreSQL without statistics read
    ALL of the account's rows through it and compared each with the 500 digests, a cost that
    grew with the store (62 ms a query at 10,000 mails, more than storing the batch).
    """
    wanted = list(dict.fromkeys(digests))
    found: dict[bytes, str] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        if store.dialect == "postgresql":
            from tlsrpt_tui.store.postgres import storable

            rows = store.conn.raw.execute(  # type: ignore[attr-defined]
                PG_KNOWN_STATUSES, storable((chunk, account))).fetchall()
        else:
            rows = store.conn.execute(known_statuses_sql(len(chunk)), (*chunk, account)).fetchall()
        for sha, status in rows:
            found.setdefault(bytes(sha), str(status))
    return found
