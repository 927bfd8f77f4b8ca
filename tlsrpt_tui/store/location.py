"""Where the store lives: an SQLite file (the default) or a PostgreSQL database URL.

``--db``, ``$TLSRPT_TUI_DB`` and ``[store] url`` all take either spelling. A PostgreSQL URL
never carries a password: one in the URL would be visible in the process list, shell history
and logs, so it is refused with the places a password may come from instead. TLS is verified
by default: a URL without ``sslmode`` gets ``sslmode=verify-full`` (``sslmode=disable`` or
``require`` must be asked for). The password itself travels beside the URL in
:class:`StoreLocation` (never in its text or ``repr``), or libpq finds it in ``~/.pgpass``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
DEFAULT_SSLMODE = "verify-full"


class LocationError(ValueError):
    """A store location that cannot be used; the message names it (redacted) and why."""


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """An SQLite path, or a PostgreSQL URL (without password) and the password to use."""

    kind: str  # "sqlite" | "postgresql"
    path: Path | None = None
    url: str | None = None
    password: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"

    def __str__(self) -> str:  # what messages and the status line show: never a password
        return self.url if self.url is not None else str(self.path)

    def with_password(self, password: str | None) -> StoreLocation:
        return StoreLocation(self.kind, self.path, self.url, password)


def is_postgres_url(text: object) -> bool:
    return isinstance(text, str) and text.split(":", 1)[0].lower() in SCHEMES and "://" in text


def parse_location(value: StoreLocation | Path | str) -> StoreLocation:
    """A location from what a user wrote (a path or a URL); LocationError when unusable."""
    if isinstance(value, StoreLocation):
        return value
    if not is_postgres_url(value):
        return StoreLocation("sqlite", path=Path(value))
    return StoreLocation("postgresql", url=normalise_url(str(value)))


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for an error message about it)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def normalise_url(url: str) -> str:
    """Check a PostgreSQL URL and add the verified-TLS default; LocationError when unusable."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise LocationError(f"{redact_loosely(url)}: not a valid PostgreSQL URL ({exc})") from None
    if parts.password is not None:
        raise LocationError(
            f"{redact(url)}: a password in the store URL would show in process lists and logs;"
            " give it with [store] password_env, password_command or keyring, or in ~/.pgpass"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "password" for k, _ in query):
        raise LocationError(
            f"{parts.scheme}://{parts.netloc}{parts.path}: a password in the store URL would show"
            " in process lists and logs; give it with [store] password_env, password_command or"
            " keyring, or in ~/.pgpass"
        )
    if not parts.path.strip("/"):
        raise LocationError(f"{url}: the URL names no database (postgresql://user@host/DBNAME)")
    text = parts.query
    if not any(k == "sslmode" for k, _ in query):  # kept as written, the default added
        text = f"{text}&sslmode={DEFAULT_SSLMODE}" if text else f"sslmode={DEFAULT_SSLMODE}"
    return urlunsplit(parts._replace(scheme="postgresql", query=text))


def redact_loosely(url: str) -> str:
    """For a URL too broken to parse: drop everything between ``://`` and ``@``."""
    head, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return head + sep + rest
