"""Which store a command or the TUI opens: ``--db``, else ``$TLSRPT_TUI_DB``, else the
config's ``[store] url``, else the SQLite file in the user data directory.

Each may be an SQLite path or a ``postgresql://`` URL. For PostgreSQL the password comes from
``[store]`` (``password_env``, ``password_command``, ``keyring``) whichever way the URL was
given, or, when none is configured, from libpq's own ``~/.pgpass``; never from the command
line.
"""

from __future__ import annotations

import os
from pathlib import Path

from tlsrpt_tui.service.config import Config, ConfigError, load_config
from tlsrpt_tui.service.secrets import SecretError, get_store_password
from tlsrpt_tui.store.database import DB_ENV, StoreError, default_db_path
from tlsrpt_tui.store.location import LocationError, StoreLocation, is_postgres_url, parse_location


def resolve(db: Path | str | None, config: Config | None) -> StoreLocation:
    """The store location (with its password for PostgreSQL); StoreError saying why not.

    ``config`` is consulted for ``[store]``; pass None when there is none to read."""
    chosen: Path | str
    if db is not None:
        chosen = db
    elif os.environ.get(DB_ENV):
        chosen = default_db_path()
    elif config is not None and config.store.url:
        chosen = config.store.url
    else:
        chosen = default_db_path()
    try:
        location = parse_location(chosen)
    except LocationError as exc:
        raise StoreError(str(exc)) from None
    if location.is_postgres and config is not None:
        try:
            location = location.with_password(get_store_password(config.store))
        except SecretError as exc:
            raise StoreError(f"{location}: {exc}") from None
    return location


def needs_config(db: Path | str | None) -> bool:
    """Whether ``resolve`` needs the config: no explicit location, or a PostgreSQL one."""
    explicit = db if db is not None else os.environ.get(DB_ENV)
    return explicit is None or is_postgres_url(str(explicit))


def resolve_from_args(db: Path | str | None, config_path: Path | str | None) -> StoreLocation:
    """``resolve`` reading the config file only when it matters (a plain ``--db file`` never
    reads it); a broken config is then a StoreError naming it."""
    config = None
    if needs_config(db):
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            raise StoreError(str(exc)) from None
    return resolve(db, config)
