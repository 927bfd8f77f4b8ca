"""Opening the SQLite store: location, pragmas, permissions and forward migrations.

Each subsystem owns one migration module under ``store/migrations/`` (``mNNN_name.py`` with a
``SQL`` string). They are applied in order inside one transaction each and the count applied is
kept in ``PRAGMA user_version``, so an old store is upgraded in place and never rebuilt.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from tlsrpt_tui.store import migrations as _migrations_pkg

APP_NAME = "tlsrpt-tui"
DB_ENV = "TLSRPT_TUI_DB"


class StoreError(Exception):
    """The store cannot be opened or is newer than this program."""


def default_db_path() -> Path:
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir(APP_NAME)) / "tlsrpt.sqlite3"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    found: list[Migration] = []
    for info in pkgutil.iter_modules(_migrations_pkg.__path__):
        if not (info.name.startswith("m") and info.name[1:4].isdigit()):
            continue
        module = importlib.import_module(f"{_migrations_pkg.__name__}.{info.name}")
        found.append(Migration(int(info.name[1:4]), info.name, module.SQL))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StoreError(f"migration numbering has a gap before {migration.name}")
    return found


class Store:
    """One SQLite connection with the app's pragmas; use from one thread/task at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                # Created owner-only: the store holds every mail that was imported.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
        try:
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.migrate()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        migrations = load_migrations()
        current = self.schema_version
        if current > len(migrations):
            raise StoreError(
                f"{self.path}: store schema version {current} is newer than this program "
                f"understands ({len(migrations)}); upgrade tlsrpt-tui"
            )
        for migration in migrations[current:]:
            with self.transaction():
                for statement in _split_sql(migration.sql):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={migration.version}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; rolls back on any exception so a batch is all or nothing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_sql(sql: str) -> list[str]:
    """Split a migration script into statements (migrations hold no ';' inside literals)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def open_store(path: Path | str | None = None) -> Store:
    return Store(path if path is not None else default_db_path())
