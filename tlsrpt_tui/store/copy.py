"""Copying a whole store between backends (``tlsrpt-tui migrate``): SQLite ↔ PostgreSQL.

Every row keeps its id, so a report's number, an alert's delivery rows and the alert engine's
pending reports mean the same in the copy. Tables go in dependency order, each in chunks of
rows by ascending id, one destination transaction per chunk: an interrupted copy is resumed
by running it again (a table continues after the highest id already copied; the small tables
without an id are upserted whole). The destination must be empty or a copy of the same source
begun earlier (a marker in ``alert_state`` says which); at the end the row counts of every
table are compared.

Rows of a source that is written meanwhile may be missed: stop ``watch``/``sync`` first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tlsrpt_tui.store.database import Store

#: (table, primary key columns), parents before children. Tables with an ``id`` are copied in
#: id order and resumed after the highest copied id; the others are upserted whole.
COPIED_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("raw_inputs", ("id",)),
    ("reports", ("id",)),
    # the reports the alert engine has not considered yet (migration 010), as they are: the
    # reports above were written directly, not through the path that adds these rows
    ("alert_pending_reports", ("report_pk",)),
    ("policies", ("id",)),
    ("failure_details", ("id",)),
    # the day totals (migration 007) as they are: the rows above were copied around the
    # functions that keep them in step
    ("domain_sets", ("id",)),
    ("domain_set_members", ("set_id", "domain")),
    ("report_days", ("day", "set_id", "forged")),
    ("policy_days", ("day", "policy_domain", "forged")),
    ("imap_folders", ("account", "folder")),
    ("imap_pending_moves", ("account", "folder", "uidvalidity", "uid")),
    ("check_results", ("id",)),
    ("alerts", ("id",)),
    ("alert_deliveries", ("alert_id", "channel")),
    ("alert_state", ("name",)),
)
#: tables of the schema that are not data to carry over, and why
NOT_COPIED: dict[str, str] = {
    "tlsrpt_schema": "the schema version: the destination has its own, equal one",
    "leases": "who works on what right now (migration 008): the source's workers are "
              "stopped, the destination's take their own",
}
#: the ``alert_state`` row naming the source a destination is (being) copied from
MARKER = "migrate:source"
#: tables whose rows mean the destination already holds a store
_CONTENT = ("raw_inputs", "reports", "check_results", "alerts", "imap_folders")
CHUNK = 5000


class CopyError(Exception):
    """The copy cannot start or did not end equal; the message says which store and why."""


@dataclass
class CopyProgress:
    table: str
    copied: int  # rows of this table written by this run so far
    total: int  # rows of this table in the source


@dataclass
class CopyResult:
    copied: dict[str, int] = field(default_factory=dict)  # rows written by this run
    counts: dict[str, int] = field(default_factory=dict)  # rows in both, verified equal
    resumed: bool = False


def table_names(store: Store) -> set[str]:
    if store.dialect == "sqlite":
        rows = store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = store.conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
    return {str(r[0]) for r in rows}


def columns(store: Store, table: str) -> list[str]:
    cur = store.conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    names = [d[0] for d in cur.description]
    cur.fetchall()
    return names


def count(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def copy_store(source: Store, dest: Store, *, chunk: int = CHUNK,
               on_progress: Callable[[CopyProgress], None] | None = None) -> CopyResult:
    """Copy every table of ``source`` into ``dest`` (see the module docstring)."""
    if source.schema_version != dest.schema_version:
        raise CopyError(f"schema versions differ ({source.location}: {source.schema_version},"
                        f" {dest.location}: {dest.schema_version})")
    unknown = table_names(source) - {t for t, _ in COPIED_TABLES} - set(NOT_COPIED)
    if unknown:
        raise CopyError(f"{source.location}: tables this program does not know how to copy:"
                        f" {', '.join(sorted(unknown))}")
    result = CopyResult(resumed=_claim(source, dest))
    for table, key in COPIED_TABLES:
        cols = columns(source, table)
        missing = set(cols) - set(columns(dest, table))
        if missing:
            raise CopyError(f"{dest.location}: table {table} lacks {', '.join(sorted(missing))}")
        total = count(source, table)
        progress = CopyProgress(table, 0, total)

        def step(n: int, progress: CopyProgress = progress) -> None:
            progress.copied += n
            if on_progress is not None:
                on_progress(progress)

        try:
            if key == ("id",):
                _copy_by_id(source, dest, table, cols, chunk, step)
            else:
                _upsert_all(source, dest, table, cols, key, chunk, step)
        except (source.Error, dest.Error) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CopyError(f"{table}: cannot copy: {reason} (run migrate again to resume)"
                            ) from None
        result.copied[table] = progress.copied
    _finish(source, dest)
    result.counts = verify(source, dest)
    return result


def _claim(source: Store, dest: Store) -> bool:
    """Mark ``dest`` as the copy of ``source``; True when resuming an earlier copy."""
    row = dest.conn.execute("SELECT value FROM alert_state WHERE name = ?", (MARKER,)).fetchone()
    origin = str(source.location)
    if row is not None:
        recorded = json.loads(row[0]).get("source")
        if recorded != origin:
            raise CopyError(f"{dest.location}: holds a copy of {recorded}, not of {origin}")
        return True
    held = {t: count(dest, t) for t in _CONTENT}
    if any(held.values()):
        what = ", ".join(f"{n} {t}" for t, n in held.items() if n)
        raise CopyError(f"{dest.location}: already holds a store ({what}); copy into an empty"
                        " one")
    with dest.transaction():
        dest.conn.execute(
            "INSERT INTO alert_state (name, value, updated_at) VALUES (?, ?, ?)",
            (MARKER, json.dumps({"source": origin}), _now()))
    return False


def _now() -> str:
    from tlsrpt_tui.store.reports import utc_now_iso

    return utc_now_iso()


def _copy_by_id(source: Store, dest: Store, table: str, cols: list[str], chunk: int,
                step: Callable[[int], None]) -> None:
    last = int(dest.conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
    select = f"SELECT {', '.join(_q(c) for c in cols)} FROM {table} WHERE id > ? ORDER BY id"
    while True:
        rows = source.conn.execute(f"{select} LIMIT ?", (last, chunk)).fetchall()
        if not rows:
            break
        with dest.transaction():
            _write(dest, table, cols, rows)
        last = int(rows[-1][cols.index("id")])
        step(len(rows))
    if dest.dialect == "postgresql":  # the next id the store hands out follows the copied ones
        dest.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")


def _upsert_all(source: Store, dest: Store, table: str, cols: list[str], key: Sequence[str],
                chunk: int, step: Callable[[int], None]) -> None:
    names = ", ".join(_q(c) for c in cols)
    updates = [c for c in cols if c not in key]
    action = ("DO UPDATE SET " + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in updates)
              if updates else "DO NOTHING")
    sql = (f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})"
           f" ON CONFLICT ({', '.join(key)}) {action}")
    order = ", ".join(key)
    # a source that is itself a copy keeps its own marker: the destination's is not replaced
    skip = f" WHERE name != '{MARKER}'" if table == "alert_state" else ""
    offset = 0
    while True:
        rows = source.conn.execute(
            f"SELECT {names} FROM {table}{skip} ORDER BY {order} LIMIT ? OFFSET ?",
            (chunk, offset),
        ).fetchall()
        if not rows:
            break
        with dest.transaction():
            dest.conn.executemany(sql, [tuple(r) for r in rows])
        offset += len(rows)
        step(len(rows))


def _write(dest: Store, table: str, cols: list[str], rows: Iterable[Sequence[Any]]) -> None:
    if dest.dialect == "postgresql":
        raw = dest.conn.raw  # type: ignore[attr-defined]
        with raw.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(_q(c) for c in cols)}) FROM STDIN"
        ) as copy:
            from tlsrpt_tui.store.postgres import storable

            for row in rows:
                copy.write_row(storable(row))
        return
    dest.conn.executemany(
        f"INSERT INTO {table} ({', '.join(_q(c) for c in cols)})"
        f" VALUES ({', '.join('?' * len(cols))})",
        [tuple(r) for r in rows],
    )


def _finish(source: Store, dest: Store) -> None:
    with dest.transaction():
        dest.conn.execute(
            "UPDATE alert_state SET value = ?, updated_at = ? WHERE name = ?",
            (json.dumps({"source": str(source.location), "done": True}), _now(), MARKER))


def verify(source: Store, dest: Store) -> dict[str, int]:
    """Row counts per table, equal in both (CopyError naming the tables that differ)."""
    counts: dict[str, int] = {}
    wrong: list[str] = []
    for table, _ in COPIED_TABLES:
        a, b = count(source, table), count(dest, table)
        if table == "alert_state":
            b -= 1 if dest.conn.execute(
                "SELECT 1 FROM alert_state WHERE name = ?", (MARKER,)).fetchone() else 0
            a -= 1 if source.conn.execute(
                "SELECT 1 FROM alert_state WHERE name = ?", (MARKER,)).fetchone() else 0
        if a != b:
            wrong.append(f"{table} {a} → {b}")
        counts[table] = a
    if wrong:
        raise CopyError(f"{dest.location}: row counts differ after the copy: {', '.join(wrong)}"
                        " (was the source written meanwhile? run migrate again to resume)")
    return counts


def _q(column: str) -> str:
    """A column name as an identifier both dialects read (``end`` is a keyword)."""
    return f'"{column}"'


