"""Leases in the store: which worker does a shared piece of work right now.

Why in the store: the workers (``watch``, ``sync``, the TUI) may run on several machines and
share nothing else. A lease is a row (``name`` → ``holder``, ``expires_at``) taken in one short
transaction: SQLite's ``BEGIN IMMEDIATE`` admits one writer at a time, so reading the row and
writing it is atomic; on PostgreSQL the row is read ``FOR UPDATE SKIP LOCKED`` (a worker that
finds another one taking it right now counts it as taken and comes back later, it never
queues) and times are the server's clock, so hosts with unsynchronised clocks still agree. A
holder renews its lease while it works and deletes it when it stops; when it dies, the row
expires and another worker takes over. A holder on THIS host whose process is gone is taken
over at once (a restarted service need not wait out its predecessor's lease).

Writes that a lease protects check it inside their own transaction (``check_held``): a holder
that stalled past its expiry and lost the lease to another worker cannot commit any more (a
fence), so two workers can never both advance the same folder.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from tlsrpt_tui.store.database import Store

#: What a holder is doing: a one-shot sync waits for a folder that is ``working`` and leaves
#: one that is ``idle`` (kept up to date by its watcher) alone.
WORKING = "working"
IDLE = "idle"


class LeaseLost(Exception):
    """The lease was taken over (the holder stalled past its expiry): stop the work."""


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    kind: str
    holder: str
    state: str
    acquired_at: float
    heartbeat_at: float
    expires_at: float

    @property
    def who(self) -> str:
        """``HOST:PID`` of the holder (its random part only tells workers apart)."""
        host, pid = holder_host_pid(self.holder)
        return f"{host}:{pid}"

    def line(self, now: float | None = None) -> str:
        """``held by HOST:PID (working, renewed 3 s ago)`` for logs and status lines."""
        now = time.time() if now is None else now
        ago = max(0, int(now - self.heartbeat_at))
        return f"held by {self.who} ({self.state}, renewed {ago} s ago)"


def new_holder_id() -> str:
    """``host:pid:random``: unique per worker, and says where its process runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def holder_host_pid(holder: str) -> tuple[str, int]:
    parts = holder.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return holder, 0


def holder_is_dead(holder: str) -> bool:
    """True only when the holder ran on this host and its process no longer exists."""
    host, pid = holder_host_pid(holder)
    if host != socket.gethostname() or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _postgres(store: Store) -> bool:
    return getattr(store, "dialect", "sqlite") == "postgresql"


def _now(store: Store, now: float | None) -> float:
    """``now``, else the database's clock (PostgreSQL: one clock for every host), else ours."""
    if now is not None:
        return now
    if _postgres(store):
        return float(store.conn.execute(
            "SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
    return time.time()


def _lease(row: object) -> Lease:
    return Lease(**{k: row[k] for k in Lease.__slots__})  # type: ignore[index]


def get(store: Store, name: str) -> Lease | None:
    row = store.conn.execute("SELECT * FROM leases WHERE name = ?", (name,)).fetchone()
    return None if row is None else _lease(row)


def held(store: Store, kind: str | None = None) -> list[Lease]:
    """Every lease row (of one kind), by name: what each worker is doing."""
    if kind is None:
        rows = store.conn.execute("SELECT * FROM leases ORDER BY name").fetchall()
    else:
        rows = store.conn.execute(
            "SELECT * FROM leases WHERE kind = ? ORDER BY name", (kind,)).fetchall()
    return [_lease(r) for r in rows]


def try_acquire(store: Store, name: str, kind: str, holder: str, ttl: float, *,
                state: str = WORKING, now: float | None = None) -> tuple[bool, Lease]:
    """Take ``name`` for ``holder`` unless another live holder has it.

    Returns (True, the lease) when taken or renewed, (False, the other holder's lease) when
    not. A free, expired or dead holder's lease is taken over. One transaction."""
    with store.transaction():
        now = _now(store, now)
        cur = store.conn.execute(
            "INSERT INTO leases (name, kind, holder, state, acquired_at, heartbeat_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, kind, holder, state, now, now, now + ttl),
        )
        if cur.rowcount == 1:
            return True, Lease(name, kind, holder, state, now, now, now + ttl)
        lock = " FOR UPDATE SKIP LOCKED" if _postgres(store) else ""
        row = store.conn.execute("SELECT * FROM leases WHERE name = ?" + lock,
                                 (name,)).fetchone()
        if row is None:  # another worker is taking it this very moment, or a commit of ours
            row = store.conn.execute("SELECT * FROM leases WHERE name = ?", (name,)).fetchone()
            if row is None:  # ...and released it meanwhile: free next time
                return False, Lease(name, kind, "?:0:", "working", now, now, now)
            if row["holder"] != holder:
                return False, _lease(row)
        current = _lease(row)
        if (current.holder != holder and current.expires_at > now
                and not holder_is_dead(current.holder)):
            return False, current
        acquired = current.acquired_at if current.holder == holder else now
        store.conn.execute(
            "UPDATE leases SET holder = ?, state = ?, acquired_at = ?, heartbeat_at = ?,"
            " expires_at = ? WHERE name = ?",
            (holder, state, acquired, now, now + ttl, name),
        )
        return True, Lease(name, kind, holder, state, acquired, now, now + ttl)


def renew(store: Store, name: str, holder: str, ttl: float, *, state: str | None = None,
          now: float | None = None) -> Lease:
    """Extend a lease ``holder`` has; LeaseLost when another worker took it meanwhile."""
    with store.transaction():
        now = _now(store, now)
        cur = store.conn.execute(
            "UPDATE leases SET heartbeat_at = ?, expires_at = ?, state = coalesce(?, state)"
            " WHERE name = ? AND holder = ?",
            (now, now + ttl, state, name, holder),
        )
        if cur.rowcount != 1:
            raise LeaseLost(f"{name}: lease lost to another worker")
        lease = get(store, name)
    assert lease is not None
    return lease


def release(store: Store, name: str, holder: str) -> None:
    """Give the lease up (a no-op when another worker has it by now)."""
    with store.transaction():
        store.conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


def check_held(store: Store, name: str, holder: str) -> None:
    """Inside the caller's transaction: raise LeaseLost unless ``holder`` still has ``name``.

    The fence of a protected write: it commits only while the lease is still this worker's.
    """
    # FOR KEY SHARE: no worker can take the lease over (FOR UPDATE) until this transaction
    # ends, while the holder's own renewals (an UPDATE of non-key columns) never wait for it.
    lock = " FOR KEY SHARE" if _postgres(store) else ""
    row = store.conn.execute(
        "SELECT 1 FROM leases WHERE name = ? AND holder = ?" + lock, (name, holder)
    ).fetchone()
    if row is None:
        raise LeaseLost(f"{name}: lease lost to another worker; nothing committed")


def serialize(store: Store, name: str) -> None:
    """Inside the caller's transaction: run it alone among every worker doing ``name``.

    SQLite's ``BEGIN IMMEDIATE`` already admits one writer at a time; PostgreSQL takes a
    transaction-scoped advisory lock (released at COMMIT/ROLLBACK). For short read-decide-write
    transactions shared by all workers, such as the alert engine's scan of pending reports."""
    if _postgres(store):
        store.conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"tlsrpt:{name}",))
