"""Security: secrets never leak; no silent plaintext or unverified TLS; no SSRF; owner-only files.

- The password is looked for in every form it travels in (as typed, IMAP-quoted, inside SASL
  PLAIN's base64) in: the real ``tlsrpt-tui sync``'s output, the command lines of it and of
  every child it starts (read from /proc while it runs, as ``ps`` would show them), the
  SQLite files' bytes, log records, exception texts, and the TUI's screen.
- The policy fetch refuses loopback, private, link-local and shared-space targets unless
  ``allow_private_targets``; an audit hook on ``socket.connect`` proves the refusal happens
  BEFORE any connection (and blocks any non-loopback connect, so no traffic leaves the host).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.faulty import FaultyPeers, faulty_peers  # noqa: F401
from peers.tls import TlsPeers
from peers.tlsrpt_mail import mixed

from tlsrpt_tui.net.imap import ImapClient, ImapTLSError
from tlsrpt_tui.net.policy_fetch import fetch_policy
from tlsrpt_tui.service.checks import CheckOptions, check_domain
from tlsrpt_tui.service.config import ConfigError, load_config
from tlsrpt_tui.service.secrets import SecretError, get_password
from tlsrpt_tui.service.sync import sync_account
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

REPO = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "TLSRPT_SECURITY_IMAP_PASSWORD"


def secret_forms(password: str, user: str) -> list[bytes]:
    """Every form the secret travels in: as typed, IMAP-quoted, in SASL PLAIN and XOAUTH2."""
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    xoauth2 = base64.b64encode(f"user={user}\1auth=Bearer {password}\1\1".encode()).decode()
    return [password.encode(), quoted.encode(), plain.encode(), xoauth2.encode()]


def assert_no_secret(where: str, data: bytes | str, forms: list[bytes]) -> None:
    blob = data.encode() if isinstance(data, str) else data
    for form in forms:
        assert form not in blob, f"the password ({form[:4]!r}…) appears in {where}"


# -- connect tripwire ---------------------------------------------------------------------------

_connects: list[tuple[str, Any]] = []
_armed = threading.Event()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not _armed.is_set():
        return
    address = args[1]
    host = address[0] if isinstance(address, tuple) else str(address)
    _connects.append((host, address))
    try:
        loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PermissionError(f"test tripwire: connect to non-loopback {address!r} blocked")


sys.addaudithook(_audit)


@pytest.fixture
def tripwire() -> Iterator[list[tuple[str, Any]]]:
    """Records every socket.connect while armed; any non-loopback connect is blocked."""
    _connects.clear()
    _armed.set()
    try:
        yield _connects
    finally:
        _armed.clear()


# -- SSRF guard -----------------------------------------------------------------------------------

PRIVATE_TARGETS = [
    "127.0.0.1", "127.53.1.1", "10.1.2.3", "172.16.5.4", "192.168.1.10", "169.254.169.254",
    "100.100.100.200", "0.0.0.0", "::1", "fe80::1", "fc00::5", "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
]  # fmt: skip


@pytest.mark.parametrize("address", PRIVATE_TARGETS)
async def test_policy_fetch_refuses_private_targets_before_connecting(
    address: str, tripwire: list[tuple[str, Any]]
) -> None:
    result = await fetch_policy("ssrf.test", [address], timeout=2.0)
    assert [f.code for f in result.findings] == ["sts.policy.fetch-error"]
    message = result.findings[0].message
    assert "refused to connect" in message and "allow_private_targets" in message
    assert address in message
    assert tripwire == [], f"a connection was attempted: {tripwire}"


async def test_loopback_target_is_reached_only_when_allowed(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
    tripwire: list[tuple[str, Any]],
) -> None:
    """The tripwire sees real connects: allowed → one connect to the peer; refused → none."""
    server = faulty_peers.https_servers["redirect-loop"]
    before = server.connections
    refused = await fetch_policy("ssrf-lo.test", [server.address], timeout=2.0)
    assert [f.code for f in refused.findings] == ["sts.policy.fetch-error"]
    assert tripwire == [] and server.connections == before
    allowed = await fetch_policy(
        "ssrf-lo.test", [server.address], timeout=2.0, ca_file=tls_peers.ca_file,
        allow_private_targets=True,
    )  # fmt: skip
    assert [f.code for f in allowed.findings] == ["sts.policy.redirect"]
    assert [h for h, _ in tripwire] == [server.address]
    time.sleep(0.05)
    assert server.connections == before + 1


async def test_name_resolving_to_private_addresses_is_refused(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
    tripwire: list[tuple[str, Any]],
) -> None:
    dns = faulty_peers.dns
    assert dns is not None
    domain = "rebind.security.test"
    dns.add(f"_smtp._tls.{domain}", "TXT", f'"v=TLSRPTv1; rua=mailto:r@{domain}"')
    dns.add(f"_mta-sts.{domain}", "TXT", '"v=STSv1; id=1"')
    dns.add(f"mta-sts.{domain}", "A", "10.20.30.40", "169.254.169.254")
    dns.add(f"mta-sts.{domain}", "AAAA", "fe80::1", "fd00::1")
    dns.add(domain, "MX", f"10 mx.{domain}.")
    dns.add(f"mx.{domain}", "A", "192.0.2.25")
    options = CheckOptions(resolver=dns.resolver, timeout=2.0, probe=False)
    status = await check_domain(domain, options)
    fetch = [f for f in status.findings if f.code == "sts.policy.fetch-error"]
    assert len(fetch) == 1, status.findings
    for address in ("10.20.30.40", "169.254.169.254", "fe80::1", "fd00::1"):
        assert address in fetch[0].message
    assert {f.code for f in status.findings} >= {"tlsrpt.ok", "sts.record.ok", "mx.ok"}
    # The only connections were DNS queries to the (loopback) resolver.
    assert {h for h, _ in tripwire} <= {dns.address}, tripwire


# -- secrets: the real CLI, /proc, the store, logs ------------------------------------------------


def _config(path: Path, dovecot: Dovecot, auth: str, security: str = "tls") -> None:  # noqa: F811
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    path.write_text(
        "[[accounts]]\n"
        'name = "sec"\n'
        f'host = "{dovecot.host}"\nport = {port}\nsecurity = "{security}"\n'
        f'username = "{dovecot.user}"\n'
        f'ca_file = "{dovecot.ca_file}"\n'
        "batch_size = 5\n" + auth
    )
    path.chmod(0o600)


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    out = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in out and pid not in out:
                out.add(pid)
                changed = True
    return out


def _watch_cmdlines(proc: subprocess.Popen[bytes]) -> dict[int, bytes]:
    """Poll /proc while ``proc`` runs: pid → command line, for it and all its children."""
    seen: dict[int, bytes] = {}
    while proc.poll() is None:
        ours = _descendants(proc.pid)
        for pid in ours:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if cmd:
                seen[pid] = cmd.replace(b"\0", b" ")
        # `ps` listings count too, our processes' lines: the machine is shared, and another
        # run's own test helpers may hold the peers' fixed test password on their command line.
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, check=False)
        mine = [
            line for line in ps.stdout.splitlines()
            if line.split(maxsplit=1)[:1] and line.split()[0].isdigit()
            and int(line.split()[0]) in ours
        ]  # fmt: skip
        seen[-len(seen) - 1] = b"\n".join(mine)
        time.sleep(0.01)
    return seen


@pytest.mark.parametrize("source", ["password_env", "password_command", "keyring", "xoauth2"])
def test_real_sync_never_shows_the_password(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
    source: str,
) -> None:
    messages, _ = mixed(400)
    dovecot.append_maildir(messages)
    secret_file = tmp_path / "secret"
    secret_file.write_text(dovecot.password + "\n")
    secret_file.chmod(0o600)
    env = {**os.environ}
    if source == "password_env":
        auth = f'password_env = "{PASSWORD_ENV}"\n'
        env[PASSWORD_ENV] = dovecot.password
    elif source == "keyring":
        # Read through the keyring package, as from a desktop keyring (peers/file_keyring.py).
        auth = "keyring = true\n"
        store_file = tmp_path / "keyring.json"
        store_file.write_text(json.dumps({"tlsrpt-tui/sec": dovecot.password}))
        env["PYTHON_KEYRING_BACKEND"] = "peers.file_keyring.FileKeyring"
        env["TLSRPT_TEST_KEYRING_FILE"] = str(store_file)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO)])
    elif source == "xoauth2":
        # This Dovecot checks an XOAUTH2 bearer token against its passdb like a password.
        auth = f"auth = \"xoauth2\"\noauth_token_command = \"sleep 0.3; cat '{secret_file}'\"\n"
    else:
        # Shell syntax on purpose (runs under /bin/sh) and slow, so /proc shows the child.
        auth = f"password_command = \"sleep 0.3; cat '{secret_file}'\"\n"
    cfg = tmp_path / "config.toml"
    _config(cfg, dovecot, auth)
    db = tmp_path / "store.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt_tui", "sync", "--config", str(cfg), "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO,
    )  # fmt: skip
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(proc.communicate(timeout=120)))
    reader.start()
    cmdlines = _watch_cmdlines(proc)
    reader.join(130)
    assert proc.returncode in (0, 1), out[1].decode(errors="replace")
    forms = secret_forms(dovecot.password, dovecot.user)
    assert b"total: " in out[0]
    assert_no_secret("stdout/stderr", out[0] + out[1], forms)
    own = [c for pid, c in cmdlines.items() if pid > 0]
    assert any(b"tlsrpt_tui" in c and b"sync" in c for c in own), own
    if source in ("password_command", "xoauth2"):
        assert any(b"sleep 0.3" in c for c in own), f"the command's process was not seen: {own}"
    for pid, cmd in cmdlines.items():
        assert_no_secret(f"the command line of pid {pid}" if pid > 0 else "ps output", cmd, forms)
    for path in sorted(tmp_path.glob("store.sqlite3*")):
        assert_no_secret(path.name, path.read_bytes(), forms)
    with Store(db) as store:
        assert store.conn.execute("SELECT count(*) FROM reports").fetchone()[0] > 0
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert_no_secret("the store", db.read_bytes(), forms)


def test_wrong_password_from_a_command_is_not_echoed(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
) -> None:
    wrong = 'Wr0ng"pass\\word'
    secret_file = tmp_path / "secret"
    secret_file.write_text(wrong + "\n")
    cfg = tmp_path / "config.toml"
    _config(cfg, dovecot, f"password_command = \"cat '{secret_file}'\"\n")
    res = subprocess.run(
        [sys.executable, "-m", "tlsrpt_tui", "sync", "--config", str(cfg),
         "--db", str(tmp_path / "s.sqlite3")],
        capture_output=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert res.returncode == 1
    assert b"login refused for user" in res.stderr
    assert_no_secret("sync output", res.stdout + res.stderr, secret_forms(wrong, dovecot.user))


async def test_logs_and_exceptions_never_hold_the_password(
    dovecot: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from tlsrpt_tui.service.config import AccountSettings

    dovecot.append(mixed(3)[0])
    caplog.set_level(logging.DEBUG)  # aioimaplib logs every line it sends at DEBUG
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    account = AccountSettings(
        name="sec", host=dovecot.host, port=dovecot.imap_port, security="plain",
        username=dovecot.user, password_env=PASSWORD_ENV,
    )  # fmt: skip
    with Store(tmp_path / "s.sqlite3") as store:
        await sync_account(store, account)
    assert "AUTHENTICATE" in caplog.text or "LOGIN" in caplog.text  # the log was captured
    forms = secret_forms(dovecot.password, dovecot.user)
    assert_no_secret("the log", caplog.text, forms)
    # Secret sources fail without quoting what they read.
    failing = AccountSettings(
        name="sec", host="h", username="u", password_command=f"sh -c 'echo {'x' * 8}; exit 3'"
    )
    with pytest.raises(SecretError) as info:
        get_password(failing)
    assert "x" * 8 not in str(info.value) and "exit status 3" in str(info.value)
    assert "password='" not in repr(AccountSettings(name="a", host="h", username="u",
                                                      password="p4ss"))  # fmt: skip


async def test_logs_never_hold_the_xoauth2_token(
    dovecot: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:  # fmt: skip
    """aioimaplib logs every line it sends at DEBUG: the XOAUTH2 exchange must not be one."""
    from tlsrpt_tui.service.config import AccountSettings

    dovecot.append(mixed(3)[0])
    token_file = tmp_path / "token"
    token_file.write_text(dovecot.password + "\n")
    caplog.set_level(logging.DEBUG)
    account = AccountSettings(
        name="sec", host=dovecot.host, port=dovecot.imap_port, security="plain",
        username=dovecot.user, auth="xoauth2", oauth_token_command=f"cat '{token_file}'",
    )  # fmt: skip
    with Store(tmp_path / "s.sqlite3") as store:
        summary = await sync_account(store, account)
        assert summary.total("new") >= 1  # the token was accepted
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert "AUTHENTICATE" in caplog.text  # the log was captured
    forms = secret_forms(dovecot.password, dovecot.user)
    assert_no_secret("the log", caplog.text, forms)
    for path in sorted(tmp_path.glob("s.sqlite3*")):
        assert_no_secret(path.name, path.read_bytes(), forms)


# -- plaintext and unverified TLS --------------------------------------------------------------


def test_tls_is_the_default_and_verification_cannot_be_switched_off(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[accounts]]\nname = "a"\nhost = "h"\nusername = "u"\n')
    account = load_config(cfg).accounts[0]
    assert account.security == "tls" and account.port == 993
    for section, key in [
        ('[[accounts]]\nname = "a"\nhost = "h"\nusername = "u"\n', "verify = false"),
        ('[[accounts]]\nname = "a"\nhost = "h"\nusername = "u"\n', "insecure = true"),
        ('[[accounts]]\nname = "a"\nhost = "h"\nusername = "u"\n', "tls_verify = false"),
        ("[checks]\n", "verify = false"),
        ("[checks]\n", "insecure = true"),
    ]:
        cfg.write_text(section + key + "\n")
        with pytest.raises(ConfigError, match="unknown key"):
            load_config(cfg)
    cfg.write_text('[[accounts]]\nname = "a"\nhost = "h"\nusername = "u"\nsecurity = "none"\n')
    with pytest.raises(ConfigError, match="security must be one of tls, starttls, plain"):
        load_config(cfg)


async def test_untrusted_server_certificate_is_always_refused(
    dovecot: Dovecot,  # noqa: F811
) -> None:
    for security, port in (("tls", dovecot.imaps_port), ("starttls", dovecot.imap_port)):
        with pytest.raises(ImapTLSError, match="not trusted"):
            await ImapClient.connect(dovecot.host, port, security=security, timeout=5)


def test_plaintext_imap_warns_visibly_on_the_command_line(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "config.toml"
    _config(cfg, dovecot, f'password_env = "{PASSWORD_ENV}"\n', security="plain")
    env = {**os.environ, PASSWORD_ENV: dovecot.password}
    res = subprocess.run(
        [sys.executable, "-m", "tlsrpt_tui", "sync", "--config", str(cfg),
         "--db", str(tmp_path / "s.sqlite3")],
        capture_output=True, text=True, cwd=REPO, timeout=60, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "security = plain: the password and the reports travel unencrypted" in res.stderr
    tls = tmp_path / "tls.toml"
    _config(tls, dovecot, f'password_env = "{PASSWORD_ENV}"\n')
    res = subprocess.run(
        [sys.executable, "-m", "tlsrpt_tui", "sync", "--config", str(tls),
         "--db", str(tmp_path / "t.sqlite3")],
        capture_output=True, text=True, cwd=REPO, timeout=60, env=env,
    )  # fmt: skip
    assert "unencrypted" not in res.stderr


# -- files ---------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_files_are_owner_only_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "new" / "dir" / "tlsrpt.sqlite3"
        with Store(db) as store:
            store.conn.execute("CREATE TABLE t (x)")
            store.conn.execute("INSERT INTO t VALUES (1)")
            files = sorted(db.parent.glob("tlsrpt.sqlite3*"))
            assert {p.name for p in files} >= {"tlsrpt.sqlite3", "tlsrpt.sqlite3-wal"}
            for path in files:
                assert _mode(path) & 0o077 == 0, f"{path.name}: {oct(_mode(path))}"
        assert _mode(db.parent) == 0o700
    finally:
        os.umask(old)


def test_cli_created_store_is_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "data" / "store.sqlite3"
    res = subprocess.run(
        [sys.executable, "-m", "tlsrpt_tui", "overview", "--db", str(db)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "TLSRPT_TUI_CONFIG": str(tmp_path / "none.toml")},
        preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    assert db.exists(), res.stderr
    assert _mode(db) & 0o077 == 0 and _mode(db.parent) == 0o700


def test_plain_password_only_in_an_owner_only_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[accounts]]\nname = "a"\nhost = "h"\nusername = "u"\npassword = "s3cr3t"\n')
    cfg.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert "chmod 600" in str(info.value) and "s3cr3t" not in str(info.value)
    cfg.chmod(0o600)
    assert get_password(load_config(cfg).accounts[0]) == "s3cr3t"


@pytest.mark.parametrize("address", PRIVATE_TARGETS)
async def test_starttls_probe_refuses_private_targets_before_connecting(
    address: str, tripwire: list[tuple[str, Any]]
) -> None:
    from tlsrpt_tui.net.starttls import probe_mx

    result = await probe_mx("mx.ssrf.test", address, timeout=2.0)
    assert [f.code for f in result.findings] == ["tls.unreachable"]
    message = result.findings[0].message
    assert "refused to connect" in message and "allow_private_targets" in message
    assert not result.attempted and not result.connected
    assert tripwire == [], f"a connection was attempted: {tripwire}"
