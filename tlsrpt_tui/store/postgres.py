"""The PostgreSQL store (psycopg 3): the same API as the SQLite one, for teams sharing a store.

Why an adapter and not two sets of queries: store/ and service/ hold ~100 statements written
once with ``?`` placeholders, rows read by index or by column name, ``BEGIN``/``SAVEPOINT``
and ``RETURNING id``. :class:`PgConnection` gives psycopg that same face: it rewrites ``?`` to
psycopg's ``%s`` (and escapes a literal ``%``) once per distinct statement, returns rows that
are tuples readable by name too (like ``sqlite3.Row``), and loads the ``numeric`` that
PostgreSQL's ``sum(bigint)`` returns as ``int`` (SQLite gives an int). Only where the dialects
truly differ does SQL depend on ``store.dialect``: the schema (``PG_SQL`` in a migration),
JSON functions, the change counter.

The database must compare text byte-wise (collation ``C``), as SQLite does: the inbox's keyset
paging, prefix look-ups (``name >= 'x' AND name < 'x\\U0010ffff'``) and every ``ORDER BY`` of a
name rely on it, and a language collation would order ``Example`` and ``example-2`` otherwise.
Opening a database with another collation fails with how to create a right one.

The connection runs in autocommit mode and ``transaction()`` issues ``BEGIN``/``COMMIT``
itself, like the SQLite store, so a batch and its IMAP position still commit together; each
migration runs in one transaction under an advisory lock, so two processes starting at once
never apply one twice.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.adapt import Loader

from tlsrpt_tui.store.database import (
    Store,
    StoreError,
    _split_sql,
    load_migrations,
    refuse_newer,
)
from tlsrpt_tui.store.location import LocationError, StoreLocation, parse_location

#: the advisory lock key that serialises migrations ("tlsrpt" in ASCII)
MIGRATION_LOCK = 0x746C7372_7074
CONNECT_TIMEOUT = 10


class _IntNumericLoader(Loader):
    """``numeric`` → int when it has no fraction (``sum()`` of bigint), else float."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        if b"." in text or b"N" in text or b"e" in text or b"I" in text:
            return float(text)
        return int(text)


@functools.lru_cache(maxsize=64)
def _row_class(names: tuple[str, ...]) -> type[tuple]:  # type: ignore[type-arg]
    index = {name: i for i, name in enumerate(names)}
    for i, name in reversed(list(enumerate(names))):
        index.setdefault(name, i)  # the first column of a duplicated name wins, like sqlite3

    class Row(tuple):  # type: ignore[type-arg]
        """A result row: a tuple that is also readable by column name (``row["id"]``)."""

        __slots__ = ()

        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, str):
                return tuple.__getitem__(self, index[key])
            return tuple.__getitem__(self, key)

        def keys(self) -> list[str]:
            return list(names)

    return Row


def _row_factory(cursor: Any) -> Any:
    if cursor.description is None:
        return tuple
    return _row_class(tuple(d.name for d in cursor.description))


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """An SQL text with ``?`` placeholders in psycopg's spelling: ``?`` outside quotes becomes
    ``%s`` and every ``%`` becomes ``%%`` (psycopg reads ``%`` everywhere, even in literals)."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")
            continue
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append(ch)
    return "".join(out)


def storable(params: Sequence[Any]) -> tuple[Any, ...]:
    """Parameters PostgreSQL can take: its text cannot hold NUL, which a hostile report's JSON
    can carry (``\\u0000``); it becomes U+FFFD, the replacement character, instead of making
    the report unstorable (its raw bytes are kept exactly, as always)."""
    return tuple(_nul_free(p) if isinstance(p, str) else
                 [_nul_free(x) if isinstance(x, str) else x for x in p] if isinstance(p, list)
                 else p for p in params)


def storable_texts(values: list[Any]) -> list[Any]:
    """``storable`` for a column of text (str or None) sent as one array: the same values,
    checked for NUL by one join in C instead of one Python test per value (a batch's
    arrays hold tens of thousands of them)."""
    if "\x00" not in "\x01".join(filter(None, values)):
        return values
    return [_nul_free(v) if v else v for v in values]


def _nul_free(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class PgConnection:
    """A psycopg connection with sqlite3's face (see the module docstring)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        return self.raw.execute(translate(sql), storable(params) if params is not None else ())

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        cur.executemany(translate(sql), [storable(p) for p in seq])
        return cur

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


def connect(location: StoreLocation) -> psycopg.Connection[Any]:
    """A raw psycopg connection (autocommit) to the location; StoreError saying why not."""
    assert location.url is not None
    try:
        raw = psycopg.connect(
            location.url, password=location.password, autocommit=True,
            connect_timeout=CONNECT_TIMEOUT, application_name="tlsrpt-tui",
            row_factory=_row_factory,
        )
    except psycopg.Error as exc:
        raise StoreError(f"{location}: cannot connect: {_first_line(exc)}",
                         unreachable=unreachable(exc)) from None
    raw.adapters.register_loader("numeric", _IntNumericLoader)
    return raw


#: What a refused connection says when the fault is in the configuration (credentials, the
#: database's name, TLS trust), not in the server's being reachable right now.
_CONFIG_FAULTS = ("authentication failed", "no password supplied", "pg_hba.conf",
                  "does not exist", "certificate", "permission denied", "invalid ")


def unreachable(exc: BaseException) -> bool:
    """The server is down, starting, restarting or out of reach (a service waits for it),
    rather than refusing this configuration (which ends a service with exit 2)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    text = str(exc).lower()
    return not any(fault in text for fault in _CONFIG_FAULTS)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PgStore(Store):
    """The store in a PostgreSQL database (see the module docstring)."""

    dialect = "postgresql"
    Error = psycopg.Error
    data_errors = (psycopg.DataError, psycopg.IntegrityError)

    def __init__(self, location: StoreLocation | str) -> None:
        try:
            loc = parse_location(location)
        except LocationError as exc:
            raise StoreError(str(exc)) from None
        self.location = loc
        self.path = loc  # type: ignore[assignment]  # what callers reopen, as for SQLite
        self.conn = PgConnection(connect(loc))  # type: ignore[assignment]
        try:
            self._check_collation()
            self.migrate()
        except psycopg.Error as exc:
            self.conn.close()
            raise StoreError(f"{loc}: cannot use the store: {_first_line(exc)}",
                             unreachable=unreachable(exc)) from None
        except BaseException:
            self.conn.close()
            raise

    def _check_collation(self) -> None:
        """Refuse a database whose default collation is not byte order, tested by behaviour
        (names differ by version and provider: libc ``C.UTF-8`` is byte order, ICU never)."""
        row = self.conn.execute(
            "SELECT 'B' < 'a' AND 'a-b' < 'a1' AND 'z' < 'é', current_database()"
        ).fetchone()
        if not row[0]:
            raise StoreError(
                f"{self.location}: database {row[1]} does not sort text in byte order (like"
                " SQLite), which the store's paging and look-ups rely on; create it with"
                f" CREATE DATABASE {row[1]} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'"
            )

    @property
    def schema_version(self) -> int:
        exists = self.conn.execute("SELECT to_regclass('tlsrpt_schema')").fetchone()[0]
        if exists is None:
            return 0
        row = self.conn.execute("SELECT version FROM tlsrpt_schema").fetchone()
        return int(row[0]) if row else 0

    def reopen(self) -> Store:
        return PgStore(self.location)

    def data_version(self) -> int:
        """A number that moves when another connection commits (or starts writing): a digest
        of the server's current snapshot, whose running-transaction list and next id change
        with every write. Transaction ids are shared by the whole server, so writes to other
        databases move it too: a harmless extra refresh. (The statistics' row counters would
        lag by up to ten seconds after a writer goes idle.)"""
        row = self.conn.execute("SELECT pg_current_snapshot()::text").fetchone()
        return zlib.crc32(str(row[0]).encode())

    def stream(self, sql: str, params: Sequence[object] = (),
               size: int = 1000) -> Iterator[Any]:
        """The rows as they come, through a server-side cursor on a connection of its own.

        A cursor makes PostgreSQL plan for the first rows (an index in the query's order
        rather than a scan and a sort of the table), and psycopg's ordinary cursor would read
        the whole result before returning any. Its own connection (opened at the first row,
        closed when the rows end or the iterator is dropped) keeps the cursor's transaction
        apart from whatever else runs on this one meanwhile."""
        raw = connect(self.location)
        try:
            with raw.transaction(), raw.cursor(name="tlsrpt_stream") as cur:
                cur.itersize = size
                cur.execute(translate(sql), tuple(params))
                yield from cur
        finally:
            raw.close()

    def migrate(self) -> None:
        migrations = load_migrations()
        refuse_newer(self.location, self.schema_version, migrations)
        for migration in migrations:
            if migration.version <= self.schema_version:
                continue
            with self.transaction():
                # Re-read under the lock: another process may have just applied it.
                self.conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS tlsrpt_schema (version INTEGER NOT NULL)"
                )
                current = self.schema_version
                if current >= migration.version:
                    continue
                for statement in _split_sql(migration.pg_sql or migration.sql):
                    self.conn.execute(statement)
                self.conn.execute("DELETE FROM tlsrpt_schema")
                self.conn.execute("INSERT INTO tlsrpt_schema (version) VALUES (?)",
                                  (migration.version,))

    BEGIN = "BEGIN"

    def _rollback(self) -> None:
        if not self.conn.raw.closed:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

