"""``watch`` on a PostgreSQL store whose server is down when it starts (a real cluster, stopped
and started again by the test): it waits and retries with backoff, says so in its log and its
metrics, and proceeds once the server answers; a refused password is a configuration error
(exit 2 at once). A private cluster, so stopping it disturbs no other test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers.postgres import PostgresServer, free_port, running_postgres
from test_watch_alerts import wait_for

REPO = Path(__file__).resolve().parent.parent
DB_ENV = "TLSRPT_TEST_DOWN_DB_PASSWORD"


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        'domains = ["down.test"]\n'
        f'[store]\npassword_env = "{DB_ENV}"\n'
        # a resolver nobody answers on: the check fails and is retried, which is not the point
        f'[checks]\nresolver = "127.0.0.1:{free_port()}"\nprobe = false\ntimeout = 1\n')
    cfg.chmod(0o600)
    return cfg


def _watch(tmp_path: Path, url: str, password: str, *extra: str) -> tuple[subprocess.Popen, Path]:  # type: ignore[type-arg]
    log = tmp_path / "watch.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    env.update({DB_ENV: password, "PYTHONPATH": str(REPO)})
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tlsrpt_tui", "watch", "--config", str(_config(tmp_path)),
             "--db", url, *extra], env=env, stderr=err, stdout=subprocess.DEVNULL, cwd=REPO)
    return proc, log


def _metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            return reply.read().decode()
    except OSError:
        return ""


def _state_line(port: int, worker: str, state: str) -> str:
    for line in _metrics(port).splitlines():
        if (line.startswith("tlsrpt_worker_state{") and f'worker="{worker}"' in line
                and f'state="{state}"' in line):
            return line
    return ""


def test_watch_waits_for_a_server_that_is_down_and_proceeds_when_it_is_up(
    private_postgres: PostgresServer, tmp_path: Path,
) -> None:
    server = private_postgres
    name = server.create_database()
    server.stop()
    port = free_port()
    proc, log = _watch(tmp_path, server.url(name), server.password,
                       "--metrics", f"127.0.0.1:{port}")
    try:
        wait_for(lambda: proc.poll() is not None or log.read_text().count(
            "store unreachable") >= 2, "two logged attempts to reach the store", limit=60)
        assert proc.poll() is None, log.read_text()
        assert "retrying in" in log.read_text()
        wait_for(lambda: _state_line(port, "store", "retrying").endswith(" 1.0"),
                 "the wait in the metrics", limit=30)
        assert server.password not in log.read_text()
        server.start()
        wait_for(lambda: "watching 1 domain(s)" in log.read_text(),
                 "watch to proceed once the server is up", limit=120)
        # the monitor's own metrics now (its check loop), no longer the wait
        wait_for(lambda: 'worker="check down.test"' in _metrics(port),
                 "the monitor's metrics", limit=30)
        assert 'worker="store"' not in _metrics(port)
        # it uses the store: its migrations are there, and the check's failure is recorded
        with server.admin(name) as conn:
            assert conn.execute("SELECT version FROM tlsrpt_schema").fetchone()[0] > 0
    finally:
        if server.process is None or server.process.poll() is not None:
            server.start()  # for the next test of this module
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]


def test_a_refused_password_ends_watch_with_a_configuration_error(
    private_postgres: PostgresServer, tmp_path: Path,
) -> None:
    name = private_postgres.create_database()
    proc, log = _watch(tmp_path, private_postgres.url(name), "not the password")
    try:
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert code == 2, text
    assert "password authentication failed" in text and "retrying" not in text
    assert "not the password" not in text
