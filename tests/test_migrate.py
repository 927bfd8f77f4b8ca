"""``tlsrpt-tui migrate``: a store copied SQLite → PostgreSQL and back, whole, resumable.

The source is the demo store (reports with failures and a forged one, unreadable inputs,
check results, alerts with their deliveries and the alert engine's state) plus an IMAP folder
position and an owed archive move, so every table holds rows. "Equal" is every row of every
table, ids included, and the screens' queries answering the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tlsrpt_tui.demo.store import build_demo_store
from tlsrpt_tui.service import queries as q
from tlsrpt_tui.store import imap_state
from tlsrpt_tui.store.copy import COPIED_TABLES, MARKER, NOT_COPIED, CopyError, copy_store
from tlsrpt_tui.store.copy import table_names as store_tables
from tlsrpt_tui.store.database import Store

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _source(path: Path) -> Path:
    store, _ = build_demo_store(path, end=date(2026, 11, 29), now=NOW)
    with store, store.transaction():
        imap_state.begin(store, "reports", "INBOX", 1700)
        imap_state.advance(store, "reports", "INBOX", 1700, 42, imap_state.BatchCounts(seen=3))
        imap_state.add_pending_moves(store, "reports", "INBOX", 1700, [41, 42])
    return path


@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _source(tmp_path_factory.mktemp("migrate") / "demo.sqlite3")


def dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every copied table, in key order (bytes as bytes, the marker left out)."""
    out = {}
    for table, key in COPIED_TABLES:
        rows = store.conn.execute(f"SELECT * FROM {table} ORDER BY {', '.join(key)}").fetchall()
        cols = list(rows[0].keys()) if rows else []
        out[table] = [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
            for r in rows if not (table == "alert_state" and r[0] == MARKER)
        ]
        out[f"{table}:columns"] = sorted(cols)  # type: ignore[assignment]
    return out


def screens(store: Store) -> tuple[object, ...]:
    return (q.inbox_page(store, limit=500), list(q.overview_rows(store)),
            list(q.policy_rows(store)), list(q.failure_rows(store)), q.domain_totals(store),
            q.unreadable_inputs(store), q.daily_totals(store, None, 60, date(2026, 11, 29)))


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TLSRPT_TUI_", "PG"))}
    full.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run([sys.executable, "-m", "tlsrpt_tui", "migrate", *args],
                          capture_output=True, text=True, timeout=300, env=full, cwd=REPO)


def test_every_table_of_the_schema_is_copied_or_says_why_not(demo_sqlite, pg_location):
    known = {t for t, _ in COPIED_TABLES} | set(NOT_COPIED)
    with Store(demo_sqlite) as a, Store(pg_location) as b:
        assert store_tables(a) <= known, store_tables(a) - known
        assert store_tables(b) <= known, store_tables(b) - known
        assert all(a.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] > 0
                   for t, _ in COPIED_TABLES), "the source must hold rows in every table"


def test_sqlite_to_postgresql_and_back_keeps_every_row(demo_sqlite, postgres_server,
                                                       pg_location, tmp_path):
    env = {"PGPASSWORD": postgres_server.password}  # libpq's own: the URL holds none
    out = _cli("--from", str(demo_sqlite), "--to", pg_location.url, env=env)
    assert out.returncode == 0, out.stderr
    with Store(demo_sqlite) as a:
        reports = a.conn.execute("SELECT count(*) FROM reports").fetchone()[0]
    assert "counts verified" in out.stdout and f"reports {reports:,}," in out.stdout
    assert "raw_inputs:" in out.stderr  # progress per table
    assert postgres_server.password not in out.stdout + out.stderr
    with Store(demo_sqlite) as a, Store(pg_location) as b:
        assert dump(b) == dump(a)
        assert screens(b) == screens(a)
        # the copy goes on: the next report gets the next id, not a copied one's
        before = int(b.conn.execute("SELECT max(id) FROM check_results").fetchone()[0])
        from tlsrpt_tui.store import checks

        pk = checks.save(b, {"domain": "example.org", "checked_at": "2026-12-01T00:00:00+00:00",
                             "status": "ok"})
        assert pk == before + 1
    back = tmp_path / "back.sqlite3"
    out = _cli("--from", pg_location.url, "--to", str(back), env=env)
    assert out.returncode == 0, out.stderr
    with Store(demo_sqlite) as a, Store(back) as c:
        got, want = dump(c), dump(a)
        assert got["check_results"][:-1] == want["check_results"]  # plus the one added
        del got["check_results"], want["check_results"]
        assert got == want


def test_an_interrupted_copy_resumes_where_it_stopped(demo_sqlite, new_db):
    dest = new_db("dest")

    class Stop(Exception):
        pass

    def stop_in_policies(p):  # type: ignore[no-untyped-def]
        if p.table == "policies" and p.copied >= 100:
            raise Stop

    with Store(demo_sqlite) as a, Store(dest) as b:
        with pytest.raises(Stop):
            copy_store(a, b, chunk=50, on_progress=stop_in_policies)
        partial = b.conn.execute("SELECT count(*) FROM policies").fetchone()[0]
        assert 100 <= partial < a.conn.execute("SELECT count(*) FROM policies").fetchone()[0]
        result = copy_store(a, b, chunk=50)
        assert result.resumed and result.copied["raw_inputs"] == 0
        assert result.copied["policies"] > 0
        assert dump(b) == dump(a)
        again = copy_store(a, b)  # a finished copy run again: nothing to do, still equal
        assert sum(again.copied[t] for t, k in COPIED_TABLES if k == ("id",)) == 0
        assert dump(b) == dump(a)


def test_a_destination_holding_another_store_is_refused(demo_sqlite, new_db, tmp_path):
    other = new_db("other")
    with Store(other) as b:
        b.conn.execute(
            "INSERT INTO check_results (domain, checked_at, status, records_json, findings_json)"
            " VALUES ('x.example', '2026-01-01', 'ok', '{}', '[]')")
        with Store(demo_sqlite) as a, pytest.raises(CopyError) as info:
            copy_store(a, b)
        assert "already holds a store (1 check_results)" in str(info.value)
        assert b.conn.execute("SELECT count(*) FROM reports").fetchone()[0] == 0


def test_cli_errors_are_one_line_and_exit_2(tmp_path, demo_sqlite):
    missing = _cli("--from", str(tmp_path / "none.sqlite3"), "--to", str(tmp_path / "b.sqlite3"))
    assert missing.returncode == 2 and "no such store" in missing.stderr
    assert not (tmp_path / "none.sqlite3").exists()
    same = _cli("--from", str(demo_sqlite), "--to", str(demo_sqlite))
    assert same.returncode == 2 and "same store" in same.stderr
    secret = _cli("--from", str(demo_sqlite), "--to", "postgresql://u:topsecret@h/db")
    assert secret.returncode == 2 and "topsecret" not in secret.stderr
    assert secret.stderr.count("\n") == 1
