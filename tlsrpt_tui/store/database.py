"""Opening the store: location, pragmas, permissions and forward migrations.

The store is an SQLite file (the default, this module) or a PostgreSQL database
(``store/postgres.py``): ``Store(location)`` opens whichever the location names, and both give
the same API to store/ and service/: ``store.conn.execute(sql, params)`` with ``?``
placeholders, rows readable by index and by column name, ``store.transaction()``, savepoints.
SQL is written once in the dialect both understand (``ON CONFLICT``, ``RETURNING id``, no
``INSERT OR IGNORE``, no scalar ``max(a, b)``); where they truly differ, ``store.dialect``
says which one to use.

Each subsystem owns one migration module under ``store/migrations/`` (``mNNN_name.py`` with a
``SQL`` string, and a ``PG_SQL`` string when PostgreSQL needs different SQL). They are applied
in order inside one transaction each and the count applied is kept in ``PRAGMA user_version``
(SQLite) or the ``tlsrpt_schema`` table (PostgreSQL), so an old store is upgraded in place and
never rebuilt: one version sequence for both.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import platformdirs

from tlsrpt_tui.store import migrations as _migrations_pkg
from tlsrpt_tui.store.location import LocationError, StoreLocation, parse_location

APP_NAME = "tlsrpt-tui"
DB_ENV = "TLSRPT_TUI_DB"


class Deferred(Protocol):
    """Writes a transaction keeps in memory and makes just before its COMMIT."""

    def flush(self, store: Store) -> None: ...

    def copy(self) -> Deferred: ...


class StoreError(Exception):
    """The store cannot be opened or is newer than this program.

    ``unreachable``: the store's server cannot be reached right now (down, restarting, the
    network): a service waits and tries again; anything else is a configuration error."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def refuse_newer(where: object, version: int, migrations: list[Migration]) -> None:
    """A store migrated by a newer program may hold what this one would misread or drop:
    refuse it, on either backend, rather than write to it."""
    if version > len(migrations):
        raise StoreError(
            f"{where}: store schema version {version} is newer than this program "
            f"understands ({len(migrations)}); upgrade tlsrpt-tui"
        )


def default_db_path() -> Path | str:
    """$TLSRPT_TUI_DB (a path or a PostgreSQL URL), else the SQLite file in the data dir."""
    env = os.environ.get(DB_ENV)
    if env:
        return env if "://" in env else Path(env)
    return Path(platformdirs.user_data_dir(APP_NAME)) / "tlsrpt.sqlite3"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    #: PostgreSQL's SQL when it differs from ``sql`` (None: ``sql`` runs on both)
    pg_sql: str | None = None


def load_migrations() -> list[Migration]:
    found: list[Migration] = []
    for info in pkgutil.iter_modules(_migrations_pkg.__path__):
        if not (info.name.startswith("m") and info.name[1:4].isdigit()):
            continue
        module = importlib.import_module(f"{_migrations_pkg.__name__}.{info.name}")
        found.append(Migration(int(info.name[1:4]), info.name, module.SQL,
                               getattr(module, "PG_SQL", None)))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StoreError(f"migration numbering has a gap before {migration.name}")
    return found


class Store:
    """One store connection; use from one thread/task at a time.

    ``Store(path)`` opens SQLite with the app's pragmas (this class); ``Store(url)`` with a
    ``postgresql://`` URL or a PostgreSQL :class:`StoreLocation` opens a
    :class:`~tlsrpt_tui.store.postgres.PgStore` instead, so every caller that opens "the store
    at this location" (a writer thread, a reader, the receiver) works on both backends.
    """

    dialect = "sqlite"
    #: what the driver raises (``except store.Error``)
    Error: type[Exception] = sqlite3.Error
    #: a value the store cannot hold, or a constraint it breaks (an input is then rejected)
    data_errors: tuple[type[Exception], ...] = (sqlite3.DataError, sqlite3.IntegrityError)
    #: SQLite: how long (ms) a statement waits for another connection's lock (``set_busy_timeout``)
    busy_ms = 10000

    def __new__(cls, location: StoreLocation | Path | str) -> Store:
        if cls is Store:
            try:
                parsed = parse_location(location)
            except LocationError as exc:
                raise StoreError(str(exc)) from None
            if parsed.is_postgres:
                from tlsrpt_tui.store.postgres import PgStore

                return super().__new__(PgStore)
        return super().__new__(cls)

    def __init__(self, location: StoreLocation | Path | str) -> None:
        path = location.path if isinstance(location, StoreLocation) else location
        assert path is not None
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self.location = StoreLocation("sqlite", path=self.path)
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
        self.set_busy_timeout(self.busy_ms)
        self._enter_wal()
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def _enter_wal(self) -> None:
        """Switch a new store to WAL, retrying while another process switches it.

        The switch reads the header and then upgrades to a write lock. SQLite skips the busy
        handler on that upgrade (waiting there could deadlock two readers), so a second worker
        opening a brand-new store in the same instant got "database is locked" at once instead
        of waiting ``busy_ms``, and died at start-up. Past ``busy_ms`` the error is the one any
        statement gives when the lock stays taken, which ``watch`` waits out.
        """
        deadline = time.monotonic() + self.busy_ms / 1000
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    self.conn.close()
                    raise
            time.sleep(0.01)

    def set_busy_timeout(self, ms: int) -> None:
        """Wait up to ``ms`` for a lock held elsewhere. Kept in ``busy_ms`` too, so the other
        connections a worker opens for the same work (its writer and lease threads) take it
        over without asking this connection, which another thread may be using."""
        self.conn.execute(f"PRAGMA busy_timeout={int(ms)}")
        self.busy_ms = int(ms)

    def set_cache_kib(self, kib: int) -> None:
        """Let this connection's page cache grow to ``kib`` KiB (SQLite's default is 2,000)."""
        self.conn.execute(f"PRAGMA cache_size={-int(kib)}")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def reopen(self) -> Store:
        """Another connection to the same store (for another thread or process)."""
        return Store(self.location)

    def data_version(self) -> int:
        """A number that moves whenever ANOTHER connection commits a change (SQLite's
        ``PRAGMA data_version``); the TUI polls it to refresh what it shows."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def stream(self, sql: str, params: Sequence[object] = (),
               size: int = 1000) -> Iterator[Any]:
        """The rows of a query as they come, ``size`` per round trip, never all at once (a
        table of 1,000,000 rows shows its first rows while the rest are read)."""
        cur = self.conn.execute(sql, params)
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield from rows

    def migrate(self) -> None:
        migrations = load_migrations()
        current = self.schema_version
        refuse_newer(self.path, current, migrations)
        for migration in migrations[current:]:
            with self.transaction():
                # Read again under the write lock: several workers opening a new store at
                # once wait for each other here, and only the first applies it.
                if self.schema_version >= migration.version:
                    continue
                for statement in _split_sql(migration.sql):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={migration.version}")

    #: how a transaction starts (SQLite: take the write lock at once)
    BEGIN = "BEGIN IMMEDIATE"
    #: the running transaction's deferred writes by name (None: no transaction)
    _deferred: dict[str, Deferred] | None = None

    def deferred(self, name: str, factory: Callable[[], Deferred]) -> Any:
        """The running transaction's deferred writes called ``name`` (made by ``factory`` at
        first use), written by their ``flush`` just before COMMIT; None outside a transaction
        (the caller then writes at once). For rows every batch adds to (store/totals.py):
        written once, at the end, their locks are held for the shortest time."""
        if self._deferred is None:
            return None
        found = self._deferred.get(name)
        if found is None:
            found = self._deferred[name] = factory()
        return found

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN … (deferred writes) COMMIT; rolls back on any exception so a batch is all or
        nothing."""
        self.conn.execute(self.BEGIN)
        self._deferred = {}
        try:
            yield self.conn
            deferred, self._deferred = self._deferred, None
            for pending in deferred.values():
                pending.flush(self)
        except BaseException:
            self._deferred = None
            self._rollback()
            raise
        self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """SAVEPOINT … RELEASE inside a transaction; on an exception, ROLLBACK TO it (the
        deferred writes made since are forgotten too) and the exception goes on."""
        self.conn.execute(f"SAVEPOINT {name}")
        saved = (None if self._deferred is None
                 else {k: v.copy() for k, v in self._deferred.items()})
        try:
            yield
        except BaseException:
            self._deferred = saved
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_sql(sql: str) -> list[str]:
    """Split a migration script into statements. Migrations hold no ';' inside literals; a
    PostgreSQL function body between ``$$`` … ``$$`` may (it stays in its statement)."""
    statements: list[str] = []
    current = ""
    for i, part in enumerate(sql.split("$$")):
        if i % 2:  # inside $$ … $$
            current += "$$" + part + "$$"
            continue
        first, *rest = part.split(";")
        current += first
        for piece in rest:
            statements.append(current)
            current = piece
    statements.append(current)
    return [s.strip() for s in statements if s.strip()]


def open_store(location: StoreLocation | Path | str | None = None) -> Store:
    return Store(location if location is not None else default_db_path())
