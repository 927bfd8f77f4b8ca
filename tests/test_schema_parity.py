"""The two backends' schemas stay one schema.

Each migration states its PostgreSQL DDL beside the SQLite one where the two must differ
(types, AUTOINCREMENT, partial-index syntax), so a column or index added to one text and
forgotten in the other would pass every test that does not touch it and break a `migrate`
between backends or a query on the other one. This test migrates an empty store of each kind
and compares what exists: tables, their columns, and the indices the migrations name.
"""

from __future__ import annotations

from pathlib import Path

from tlsrpt_tui.store.database import Store

#: where the backends keep their schema version: SQLite in PRAGMA user_version, PostgreSQL
#: in a table of its own
VERSION_TABLES = {"tlsrpt_schema"}


def _sqlite_schema(store: Store) -> dict[str, object]:
    conn = store.conn
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    columns = {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in tables}
    indices = {(r[0], r[1]) for r in conn.execute(
        "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    return {"tables": set(tables), "columns": columns, "indices": indices}


def _pg_schema(store: Store) -> dict[str, object]:
    conn = store.conn
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'").fetchall()
        if r[0] not in VERSION_TABLES]
    columns: dict[str, set[str]] = {t: set() for t in tables}
    for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()").fetchall():
        if table in columns:
            columns[table].add(column)
    # the indices a migration creates by name; PostgreSQL's own for PRIMARY KEY / UNIQUE
    # constraints have no counterpart in sqlite_master's named indices
    indices = {(r[0], r[1]) for r in conn.execute(
        "SELECT i.tablename, i.indexname FROM pg_indexes i "
        "WHERE i.schemaname = current_schema() AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()}
    return {"tables": set(tables), "columns": columns, "indices": indices}


def test_both_backends_have_the_same_tables_columns_and_indices(tmp_path: Path,
                                                                pg_location) -> None:  # type: ignore[no-untyped-def]
    with Store(tmp_path / "s.sqlite3") as lite, Store(pg_location) as pg:
        assert lite.schema_version == pg.schema_version
        a, b = _sqlite_schema(lite), _pg_schema(pg)
    assert a["tables"] == b["tables"], "tables only in one backend: " + repr(
        set(a["tables"]) ^ set(b["tables"]))  # type: ignore[arg-type]
    for table in sorted(a["tables"]):  # type: ignore[call-overload]
        assert a["columns"][table] == b["columns"][table], (  # type: ignore[index]
            f"{table}: columns only in one backend: "
            f"{a['columns'][table] ^ b['columns'][table]}")  # type: ignore[index]
    assert a["indices"] == b["indices"], "indices only in one backend: " + repr(
        set(a["indices"]) ^ set(b["indices"]))  # type: ignore[arg-type]
    assert len(a["indices"]) >= 5  # type: ignore[arg-type]
