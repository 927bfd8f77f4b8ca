"""Alerts in the store: raised once (UNIQUE key), delivered per channel, with named state.

``insert`` runs inside the caller's transaction, the one that also records what the alert was
derived from (a pending report, a check result, a condition), so an alert is never lost between
"it happened" and "it is stored", and never stored twice. Delivery rows are created for every
configured channel at the same time; each channel then works through its pending rows in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tlsrpt_tui.core.alerts import Alert, details_json
from tlsrpt_tui.store.database import Store


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def insert(store: Store, alert: Alert, channels: list[str]) -> int | None:
    """Store an alert and its pending deliveries; None if its key was already raised."""
    cur = store.conn.execute(
        "INSERT INTO alerts (key, code, severity, domain, summary, details_json, body,"
        " raised_at, report_pk) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (key) DO NOTHING RETURNING id",
        (
            alert.key, alert.code, alert.severity, alert.domain, alert.summary,
            details_json(alert.details), alert.body, alert.raised_at or now_iso(),
            alert.report_pk,
        ),
    )
    row = cur.fetchone()
    if row is None:
        return None
    pk = int(row[0])
    store.conn.executemany(
        "INSERT INTO alert_deliveries (alert_id, channel, state) VALUES (?, ?, 'pending')",
        [(pk, ch) for ch in channels],
    )
    return pk


def _alert(row: Any) -> Alert:
    return Alert(
        code=row["code"], key=row["key"], severity=row["severity"], domain=row["domain"],
        summary=row["summary"], details=json.loads(row["details_json"]), body=row["body"],
        raised_at=row["raised_at"], report_pk=row["report_pk"], pk=int(row["id"]),
    )


def get(store: Store, alert_pk: int) -> Alert | None:
    row = store.conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_pk,)).fetchone()
    return None if row is None else _alert(row)


def next_pending(store: Store, channel: str) -> Alert | None:
    """The oldest alert this channel still owes (alerts go out in the order they were raised)."""
    row = store.conn.execute(
        "SELECT a.* FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id"
        " WHERE d.channel = ? AND d.state = 'pending' ORDER BY d.alert_id LIMIT 1",
        (channel,),
    ).fetchone()
    return None if row is None else _alert(row)


def pending_count(store: Store, channel: str) -> int:
    return int(store.conn.execute(
        "SELECT count(*) FROM alert_deliveries WHERE channel = ? AND state = 'pending'",
        (channel,),
    ).fetchone()[0])


def mark_delivered(store: Store, alert_pk: int, channel: str, at: str | None = None,
                   by: str | None = None) -> None:
    """``by``: the worker (lease holder id) that sent it."""
    store.conn.execute(
        "UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1,"
        " delivered_at = ?, last_error = NULL, delivered_by = ? WHERE alert_id = ?"
        " AND channel = ?",
        (at or now_iso(), by, alert_pk, channel),
    )


def mark_failed(store: Store, alert_pk: int, channel: str, error: str) -> None:
    store.conn.execute(
        "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?"
        " WHERE alert_id = ? AND channel = ?",
        (error[:500], alert_pk, channel),
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    state: str  # pending | delivered
    attempts: int
    last_error: str | None
    delivered_at: str | None


@dataclass(frozen=True, slots=True)
class ListedAlert:
    alert: Alert
    deliveries: tuple[Delivery, ...]


def recent(store: Store, limit: int = 200) -> list[ListedAlert]:
    """Newest first, with the delivery state per channel (the TUI's alerts screen)."""
    rows = store.conn.execute(
        "SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    marks = ",".join("?" * len(ids))
    per: dict[int, list[Delivery]] = {}
    for d in store.conn.execute(
        f"SELECT * FROM alert_deliveries WHERE alert_id IN ({marks}) ORDER BY channel", ids
    ):
        per.setdefault(int(d["alert_id"]), []).append(
            Delivery(d["channel"], d["state"], d["attempts"], d["last_error"], d["delivered_at"])
        )
    return [ListedAlert(_alert(r), tuple(per.get(int(r["id"]), ()))) for r in rows]


def count(store: Store) -> int:
    return int(store.conn.execute("SELECT count(*) FROM alerts").fetchone()[0])


# -- named state ---------------------------------------------------------------------------


def get_state(store: Store, name: str) -> Any | None:
    row = store.conn.execute(
        "SELECT value FROM alert_state WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else json.loads(row[0])


def set_state(store: Store, name: str, value: Any) -> None:
    store.conn.execute(
        "INSERT INTO alert_state (name, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (name, json.dumps(value, sort_keys=True), now_iso()),
    )


def delete_state(store: Store, name: str) -> None:
    store.conn.execute("DELETE FROM alert_state WHERE name = ?", (name,))


def states_with_prefix(store: Store, prefix: str) -> dict[str, Any]:
    rows = store.conn.execute(
        "SELECT name, value FROM alert_state WHERE name >= ? AND name < ?",
        (prefix, prefix + "\U0010ffff"),
    ).fetchall()
    return {r[0]: json.loads(r[1]) for r in rows}
