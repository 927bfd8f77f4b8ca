"""Stored live-check results: one row per (domain, run), newest last.

Rows are plain dicts (``domain``, ``checked_at``, ``status``, ``records``, ``findings``) — the
JSON shape of ``tlsrpt-tui check --format json`` — so the store does not depend on service/.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tlsrpt_tui.store.database import Store


def save(store: Store, result: dict[str, Any]) -> int:
    """Append one check result; returns its row id."""
    with store.transaction():
        return insert(store, result)


def insert(store: Store, result: dict[str, Any]) -> int:
    """``save`` inside the caller's transaction (with the alerts the result raises)."""
    cur = store.conn.execute(
        "INSERT INTO check_results (domain, checked_at, status, records_json, findings_json)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (
            result["domain"],
            result["checked_at"],
            result["status"],
            json.dumps(result.get("records", {}), sort_keys=True),
            json.dumps(result.get("findings", [])),
        ),
    )
    return int(cur.fetchone()[0])


def _rows(store: Store, domain: str, limit: int) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        "SELECT domain, checked_at, status, records_json, findings_json FROM check_results"
        " WHERE domain = ? ORDER BY checked_at DESC, id DESC LIMIT ?",
        (domain, limit),
    ).fetchall()
    return [
        {
            "domain": r["domain"],
            "checked_at": r["checked_at"],
            "status": r["status"],
            "records": json.loads(r["records_json"]),
            "findings": json.loads(r["findings_json"]),
        }
        for r in rows
    ]


def latest(store: Store, domain: str) -> dict[str, Any] | None:
    """The most recent result for ``domain``, or None."""
    rows = _rows(store, domain, 1)
    return rows[0] if rows else None


def previous(store: Store, domain: str) -> dict[str, Any] | None:
    """The result before the most recent one (what the latest is compared with), or None."""
    rows = _rows(store, domain, 2)
    return rows[1] if len(rows) == 2 else None


def history(store: Store, domain: str, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` results for ``domain``, newest first."""
    return _rows(store, domain, limit)


def last_checked_at(store: Store, domain: str) -> str | None:
    """When ``domain`` was last checked (by any worker sharing the store), or None."""
    row = store.conn.execute(
        "SELECT max(checked_at) FROM check_results WHERE domain = ?", (domain,)
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def domains(store: Store) -> list[str]:
    """Every domain with at least one stored result."""
    rows = store.conn.execute("SELECT DISTINCT domain FROM check_results ORDER BY 1")
    return [r[0] for r in rows]


def due_in(store: Store, domain: str, interval: float, now: datetime) -> float:
    """Seconds until ``domain`` is due for a check: its last stored check, by whichever
    worker made it, plus ``interval``; 0 when never checked."""
    last = last_checked_at(store, domain)
    if last is None:
        return 0.0
    when = datetime.fromisoformat(last)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds() + interval)
