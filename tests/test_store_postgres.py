"""The PostgreSQL backend itself: choosing it, its password and TLS, its schema and migrations.

The behaviour both backends share (ingest, dedup, queries, sync) is tested once for both by the
store, ingest, sync and query tests (the ``db_location``/``new_db`` fixtures); this file holds
what only PostgreSQL has: a URL instead of a path, a password that must never show, TLS
verified by default, a database that must compare text byte-wise, migrations under a lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from peers.postgres import PostgresServer
from report_factory import report, sts_policy, to_json

from tlsrpt_tui.service.config import ConfigError, load_config
from tlsrpt_tui.service.store_location import resolve
from tlsrpt_tui.store.database import Store, StoreError, load_migrations
from tlsrpt_tui.store.location import LocationError, parse_location
from tlsrpt_tui.store.postgres import PgStore

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("TLSRPT_TUI_", "PG"))}
    full.update({"PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(cwd / "data"),
                 "XDG_CONFIG_HOME": str(cwd / "config"), **env})
    return subprocess.run([sys.executable, "-m", "tlsrpt_tui", *args], capture_output=True,
                          text=True, timeout=120, env=full, cwd=cwd)


def test_a_url_with_a_password_is_refused_without_showing_it():
    for url in ("postgresql://alice:hunter2@db.example/tlsrpt",
                "postgres://db.example/tlsrpt?password=hunter2&sslmode=require"):
        with pytest.raises(LocationError) as info:
            parse_location(url)
        assert "hunter2" not in str(info.value)
        assert "password_env" in str(info.value) and "pgpass" in str(info.value)
    with pytest.raises(StoreError) as err:
        Store("postgresql://alice:hunter2@db.example/tlsrpt")
    assert "hunter2" not in str(err.value) and "***" in str(err.value)


def test_tls_is_verified_unless_the_url_says_otherwise():
    loc = parse_location("postgresql://alice@db.example:5433/tlsrpt")
    assert loc.is_postgres and loc.url.endswith("/tlsrpt?sslmode=verify-full")
    kept = parse_location("postgres://alice@db.example/tlsrpt?sslmode=require")
    assert kept.url == "postgresql://alice@db.example/tlsrpt?sslmode=require"
    assert parse_location("/var/lib/tlsrpt.sqlite3").kind == "sqlite"
    with pytest.raises(LocationError, match="names no database"):
        parse_location("postgresql://alice@db.example")


def test_the_password_never_appears_in_the_location_text_or_repr(postgres_server):
    loc = postgres_server.location("postgres")
    assert loc.password == postgres_server.password
    assert postgres_server.password not in str(loc) and postgres_server.password not in repr(loc)


def test_store_url_selects_postgresql_and_verified_tls_connects(pg_location):
    with Store(pg_location) as store:
        assert isinstance(store, PgStore) and store.dialect == "postgresql"
        assert store.schema_version == len(load_migrations())
        ssl = store.conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert ssl.fetchone()[0] is True
        with store.reopen() as other:
            assert isinstance(other, PgStore)


def test_a_server_certificate_from_another_ca_is_refused(postgres_server, tmp_path):
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    url = postgres_server.url("postgres").replace(str(postgres_server.ca_file), str(other_ca))
    with pytest.raises(StoreError, match="cannot connect"):
        Store(parse_location(url).with_password(postgres_server.password))


def test_a_wrong_password_is_a_clear_error_that_does_not_repeat_it(postgres_server):
    wrong = "not-the-Passw0rd"
    with pytest.raises(StoreError) as info:
        Store(parse_location(postgres_server.url("postgres")).with_password(wrong))
    assert "cannot connect" in str(info.value) and "password authentication failed" in str(
        info.value)
    assert wrong not in str(info.value)


def test_the_password_from_pgpass_when_none_is_configured(postgres_server, pg_location, tmp_path,
                                                          monkeypatch):
    pgpass = tmp_path / "pgpass"
    escaped = postgres_server.password.replace("\\", "\\\\").replace(":", "\\:")
    pgpass.write_text(f"{postgres_server.host}:{postgres_server.port}:*:"
                      f"{postgres_server.user}:{escaped}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with Store(pg_location.with_password(None)) as store:
        assert store.schema_version == len(load_migrations())


def test_store_section_of_the_config(tmp_path, postgres_server):
    cfg = tmp_path / "config.toml"
    url = postgres_server.url("x")
    cfg.write_text(f'[store]\nurl = "{url}"\npassword_env = "MY_DB_PW"\n')
    config = load_config(cfg)
    os.environ.pop("TLSRPT_TUI_DB", None)
    os.environ["MY_DB_PW"] = "from-env"
    try:
        loc = resolve(None, config)
    finally:
        del os.environ["MY_DB_PW"]
    assert loc.is_postgres and loc.url == url and loc.password == "from-env"
    # --db wins over the config; a path needs no password
    assert resolve(tmp_path / "s.sqlite3", config).kind == "sqlite"
    with pytest.raises(StoreError, match="MY_DB_PW"):
        resolve(None, config)  # the variable is not set: said, not an empty password
    cfg.write_text('[store]\nurl = "postgresql://u:pw@h/db"\n')
    with pytest.raises(ConfigError, match=r"store\.url") as info:
        load_config(cfg)
    assert ":pw@" not in str(info.value)


def test_cli_imports_into_postgresql_with_the_password_from_the_environment(
    postgres_server: PostgresServer, pg_location, tmp_path: Path,
) -> None:
    data = to_json(report("Sender Inc.", "cli-1", "2026-05-01",
                          [sts_policy("example.org", 5, 0)]))
    (tmp_path / "r.json").write_bytes(data)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[store]\nurl = "{pg_location.url}"\npassword_env = "TLSRPT_DB_PW"\n')
    env = {"TLSRPT_DB_PW": postgres_server.password, "TLSRPT_TUI_CONFIG": str(cfg)}
    out = _cli("import", str(tmp_path / "r.json"), env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1 new, 0 duplicate, 0 rejected"
    listed = _cli("inbox", "--db", pg_location.url, env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "Sender Inc." in listed.stdout
    with Store(pg_location) as store:
        assert store.conn.execute("SELECT count(*) FROM reports").fetchone()[0] == 1
    # Without the password: one line saying why, exit 2, and no SQLite file made instead.
    bad = _cli("inbox", "--db", pg_location.url, env={"TLSRPT_TUI_CONFIG": str(tmp_path / "no")},
               cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "cannot connect" in bad.stderr and pg_location.url.split("?")[0] in bad.stderr
    assert postgres_server.password not in bad.stderr + out.stderr + listed.stderr


def test_a_database_that_sorts_text_by_language_rules_is_refused(postgres_server):
    name = "icu_collated"
    with postgres_server.admin() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
                     " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'")
    try:
        with pytest.raises(StoreError) as info:
            Store(postgres_server.location(name))
        assert "LOCALE 'C'" in str(info.value) and "byte order" in str(info.value)
    finally:
        postgres_server.drop_database(name)


def test_two_processes_migrating_an_empty_database_at_once_apply_each_migration_once(
    postgres_server,
):
    name = postgres_server.create_database(template=None)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store(postgres_server.location(name)).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=open_it) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        with Store(postgres_server.location(name)) as store:
            assert store.schema_version == len(load_migrations())
            assert store.conn.execute("SELECT count(*) FROM tlsrpt_schema").fetchone()[0] == 1
            store.conn.execute("UPDATE tlsrpt_schema SET version = version + 1")
        with pytest.raises(StoreError, match="newer than this program"):
            Store(postgres_server.location(name))
    finally:
        postgres_server.drop_database(name)


def test_the_store_password_from_a_command_or_the_keyring(postgres_server, pg_location,
                                                          tmp_path):
    """Each [store] source, through the real CLI against the real server (the keyring is the
    tests' file backend, read through the keyring package as a desktop keyring would be)."""
    import json

    (tmp_path / "pw").write_text(postgres_server.password + "\nsecond line\n")
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"tlsrpt-tui/store": postgres_server.password}))
    env = {"PYTHON_KEYRING_BACKEND": "peers.file_keyring.FileKeyring",
           "TLSRPT_TEST_KEYRING_FILE": str(ring),
           "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}
    for source in (f'password_command = "cat {tmp_path / "pw"}"', "keyring = true"):
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[store]\nurl = "{pg_location.url}"\n{source}\n')
        out = _cli("status", "--config", str(cfg), env=env, cwd=tmp_path)
        assert out.returncode in (0, 1), (source, out.stderr)
        assert "cannot connect" not in out.stderr
    ring.write_text("{}")
    out = _cli("status", "--config", str(cfg), env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert "keyring set tlsrpt-tui store" in out.stderr and out.stderr.count("\n") == 1
