"""A real PostgreSQL (Debian ``postgresql``) on loopback: a private cluster per test session.

``initdb`` into a fresh directory, the server on a free 127.0.0.1 port with TLS (a trustme
certificate, so clients connect with ``sslmode=verify-full`` and the CA file, as in
production) and SCRAM passwords; stopped and removed at the end. PostgreSQL refuses to run as
root, so when the tests run as root the cluster runs as the ``postgres`` system user (its
directory chowned to it). If the server cannot start, the fixture raises: a test that needs it
fails, it never skips.

Each test gets a database of its own, cloned from a template the session migrated once
(``CREATE DATABASE … TEMPLATE``: tens of milliseconds, where migrating would be more), dropped
after the test. The cluster is tuned for tests only (no fsync).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUPERUSER = "tlsrpt"
PASSWORD = "pg-S3cret \"quoted\" \\ pass"  # spaces, quotes, backslash: must never leak
TEMPLATE = "tlsrpt_template"
RUN_AS = "postgres"

CONF = """\
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{root}/run'
max_connections = 200
ssl = on
ssl_cert_file = '{root}/server.pem'
ssl_key_file = '{root}/server.key'
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_checkpoints = off
autovacuum = off
log_destination = 'stderr'
logging_collector = off
"""

HBA = """\
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 reject
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path:
    """The directory with initdb/pg_ctl: the newest /usr/lib/postgresql/N/bin, else
    ``pg_config --bindir`` (which is the client's on Debian, so checked for initdb)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql)")


@dataclass
class PostgresServer:
    """One running private cluster and what tests need to reach it."""

    root: Path
    port: int
    bindir: Path
    ca_file: Path
    user: str = SUPERUSER
    password: str = field(default=PASSWORD, repr=False)
    _names: Iterator[int] = field(default_factory=itertools.count, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    host = "127.0.0.1"

    def url(self, dbname: str, *, user: str | None = None) -> str:
        """The store URL of a database (TLS verified against the test CA; no password)."""
        return (f"postgresql://{user or self.user}@{self.host}:{self.port}/{dbname}"
                f"?sslmode=verify-full&sslrootcert={self.ca_file}")

    def location(self, dbname: str):  # type: ignore[no-untyped-def]
        from tlsrpt_tui.store.location import parse_location

        return parse_location(self.url(dbname)).with_password(self.password)

    def admin(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        """A plain psycopg connection (autocommit) for the test's own set-up and checks."""
        import psycopg

        return psycopg.connect(self.url(dbname), password=self.password, autocommit=True)

    def create_database(self, template: str | None = TEMPLATE, locale: str = "C") -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            if template:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'
                             " STRATEGY WAL_LOG")
            else:
                conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
                             f" LOCALE '{locale}'")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_as_owner([str(self.bindir / tool), *args]), capture_output=True,
                              text=True, check=check, timeout=120)

    def log_text(self) -> str:
        try:
            return (self.root / "postgres.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self) -> None:
        """Start the server on its cluster (again, after ``stop``) and wait until it answers.

        The postmaster is our child, killed when this process dies (setpriv --pdeathsig): a
        test session killed by a timeout or kill -9 leaves no server running behind it."""
        owner = (["--reuid", RUN_AS, "--regid", RUN_AS, "--init-groups"]
                 if os.geteuid() == 0 else [])
        log = (self.root / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            ["setpriv", *owner, "--pdeathsig", "KILL", str(self.bindir / "postgres"), "-D",
             str(self.root / "data")], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        log.close()
        _wait_ready(self)

    def stop(self) -> None:
        self.pg("pg_ctl", "stop", "-D", str(self.root / "data"), "-m", "immediate", "-w",
                check=False)
        if self.process is not None:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


def _as_owner(argv: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", RUN_AS, "--", *argv]


def start_postgres() -> PostgresServer:
    """initdb + pg_ctl start; RuntimeError (with the log) if it does not come up."""
    import trustme

    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="tlsrpt-pg-"))
    root.chmod(0o755)
    (root / "run").mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(root / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    (root / "server.key").chmod(0o600)
    (root / "pwfile").write_text(PASSWORD + "\n")
    (root / "pwfile").chmod(0o600)
    if os.geteuid() == 0:
        owner = pwd.getpwnam(RUN_AS)
        for p in (root, root / "run", root / "server.key", root / "server.pem", root / "pwfile"):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(root, free_port(), bindir, root / "ca.pem")
    init = server.pg("initdb", "-D", str(root / "data"), "-U", SUPERUSER, "-E", "UTF8",
                     "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                     f"--pwfile={root / 'pwfile'}", "--no-sync", check=False)
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr}")
    (root / "pwfile").unlink()
    with (root / "data" / "postgresql.conf").open("a") as conf:
        conf.write(CONF.format(port=server.port, root=root))
    (root / "data" / "pg_hba.conf").write_text(HBA)
    server.start()
    _make_template(server)
    return server


def _wait_ready(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"postgres exited ({server.process.returncode}):\n"
                               f"{server.log_text()}")
        try:
            with server.admin():
                return
        except psycopg.Error as exc:
            error = exc
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"PostgreSQL did not answer on 127.0.0.1:{server.port}: {error}\n"
                       f"{server.log_text()}")


def _make_template(server: PostgresServer) -> None:
    """The database every test's is cloned from: created C-collated and migrated once."""
    from tlsrpt_tui.store.database import Store

    with server.admin() as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'")
    Store(server.location(TEMPLATE)).close()


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A private cluster for the block: started, then stopped and removed."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_location(postgres_server: PostgresServer):  # type: ignore[no-untyped-def]
    """A fresh migrated PostgreSQL store of this test's own (its location, with password)."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.location(name)
    finally:
        postgres_server.drop_database(name)


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """Which store backend this run of the test uses (the tests taking it run once for each)."""
    return str(request.param)


@pytest.fixture
def new_db(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``new_db(name)``: the location of a fresh store of this run's backend (an SQLite file in
    tmp_path, or a migrated PostgreSQL database of its own, dropped after the test); the same
    name gives the same store."""
    made: dict[str, object] = {}
    server: PostgresServer | None = None
    if db_backend == "postgresql":
        server = request.getfixturevalue("postgres_server")

    def new(name: str = "s"):  # type: ignore[no-untyped-def]
        if name not in made:
            if server is None:
                made[name] = tmp_path / f"{name}.sqlite3"
            else:
                made[name] = server.location(server.create_database())
        return made[name]

    yield new
    if server is not None:
        for location in made.values():
            server.drop_database(location.url.rsplit("/", 1)[1].split("?", 1)[0])  # type: ignore[attr-defined]


@pytest.fixture
def db_location(new_db):  # type: ignore[no-untyped-def]
    """Where this test's store lives, once per backend: an SQLite file, then a PostgreSQL
    database (the store, ingest, sync and query tests take this, so they run against both)."""
    return new_db("s")


def cli_env(location) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment for running the CLI on ``location`` in a subprocess: for PostgreSQL, the
    password in libpq's own ``PGPASSWORD`` (the URL on the command line holds none)."""
    env = dict(os.environ)
    password = getattr(location, "password", None)
    if password:
        env["PGPASSWORD"] = password
    return env
