"""IMAP failures give clear one-line errors, never the password; the CLI survives kill -9."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import google_report, mixed
from test_imap_sync import PASSWORD_ENV, account_for, count, dump  # noqa: F401

from tlsrpt_tui.net import imap
from tlsrpt_tui.net.imap import (
    ImapAuthError,
    ImapClient,
    ImapConnectError,
    ImapConnectionLost,
    ImapError,
    ImapProtocolError,
    ImapTLSError,
)
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.sync import sync_account, sync_all
from tlsrpt_tui.store import imap_state
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers
REPO = Path(__file__).resolve().parent.parent


def secret_forms(password: str, user: str) -> list[str]:
    """The password as typed, quoted for IMAP, and inside SASL PLAIN's base64."""
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return [password, quoted, plain]


async def test_wrong_password_is_a_clear_error_without_the_password(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    new_db,
) -> None:
    wrong = 'not-the"right\\one'
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    with Store(new_db("s")) as store:
        with pytest.raises(ImapAuthError) as info:
            await sync_account(store, account_for())
        msg = str(info.value)
        assert msg.startswith(
            f"login refused for user {dovecot.user} on 127.0.0.1:{dovecot.imaps_port}"
        )
        # sync_all records it and carries on with other accounts.
        summary = await sync_all(store, [account_for()])
        assert summary.errors == [msg]
    out = capsys.readouterr()
    for form in secret_forms(wrong, dovecot.user):
        assert form not in msg
        assert form not in caplog.text
        assert form not in out.out + out.err


async def test_password_never_logged_on_success_either(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    new_db,
) -> None:
    dovecot.append([google_report(1)])
    caplog.set_level(logging.DEBUG)  # aioimaplib logs every line it sends at DEBUG
    with Store(new_db("s")) as store:
        summary = await sync_account(store, account_for())
        assert summary.total("new") == 1
    assert "AUTHENTICATE PLAIN" in caplog.text  # the log was really captured
    out = capsys.readouterr()
    for form in secret_forms(dovecot.password, dovecot.user):
        assert form not in caplog.text
        assert form not in out.out + out.err


async def test_untrusted_certificate_and_refused_connection(
    dovecot: Dovecot,  # noqa: F811
) -> None:
    with pytest.raises(ImapTLSError) as info:
        await ImapClient.connect(dovecot.host, dovecot.imaps_port, security="tls")
    where = f"127.0.0.1:{dovecot.imaps_port}"
    assert str(info.value).startswith(f"certificate of {where} not trusted: ")
    with pytest.raises(ImapTLSError, match="not trusted"):
        await ImapClient.connect(dovecot.host, dovecot.imap_port, security="starttls")
    port = _closed_port()
    with pytest.raises(ImapConnectError, match=f"cannot connect to 127.0.0.1:{port}: connection"):
        await ImapClient.connect("127.0.0.1", port, security="tls")
    with pytest.raises(ImapTLSError, match=r"ca_file .*missing\.pem: cannot load"):
        await ImapClient.connect(
            "127.0.0.1", port, security="tls", ca_file=str(dovecot.root / "missing.pem")
        )


async def test_tls_context_is_shared_within_its_ttl_and_a_bad_ca_file_is_not_kept(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connections share one context per CA file for SSL_CONTEXT_TTL (loading the system
    trust store is ~55 ms a connection); a CA file that failed to load is read again at the
    next connection, and after the TTL a changed CA file is read again."""
    monkeypatch.setattr(imap, "_SSL_CONTEXTS", {})
    ca = tmp_path / "ca.pem"
    with pytest.raises(ImapTLSError, match="cannot load"):  # not there yet
        await ImapClient.connect(dovecot.host, dovecot.imaps_port, ca_file=str(ca))
    ca.write_bytes(Path(dovecot.ca_file).read_bytes())
    first = await ImapClient.connect(dovecot.host, dovecot.imaps_port, ca_file=str(ca))
    second = await ImapClient.connect(dovecot.host, dovecot.imaps_port, ca_file=str(ca))
    for client in (first, second):
        await client.logout()
    assert imap.ssl_context_for(str(ca)) is imap.ssl_context_for(str(ca))
    assert imap.ssl_context_for(str(ca)) is not imap.ssl_context_for(None)
    # within the TTL a broken CA file goes unnoticed; after it, the file is read again
    ca.write_text("")
    kept = await ImapClient.connect(dovecot.host, dovecot.imaps_port, ca_file=str(ca))
    await kept.logout()
    monkeypatch.setattr(imap, "SSL_CONTEXT_TTL", 0.0)
    with pytest.raises(ImapTLSError, match="cannot load"):
        await ImapClient.connect(dovecot.host, dovecot.imaps_port, ca_file=str(ca))


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_xoauth2_with_token_command(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
    new_db,
) -> None:
    # This Dovecot checks an XOAUTH2 bearer token against its passdb like a password.
    token_file = tmp_path / "token"
    token_file.write_text(dovecot.password + "\n")
    dovecot.append([google_report(7)])
    acct = account_for(
        auth="xoauth2", password_env=None, oauth_token_command=f"cat {token_file}"
    )
    with Store(new_db("s")) as store:
        summary = await sync_account(store, acct)
        assert summary.total("new") == 1
    token_file.write_text("expired-token\n")
    with Store(new_db("s")) as store, pytest.raises(ImapAuthError) as info:
        await sync_account(store, acct)
    assert "login refused for user" in str(info.value)
    assert "expired-token" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# A server that answers with garbage: errors, not hangs or crashes.


async def _fake_server(script: Callable[[bytes, bytes], bytes | None]) -> asyncio.Server:
    """A loopback IMAP-ish server: greeting, then ``script(tag, command)`` → reply bytes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK fake ready\r\n")
        try:
            while line := await reader.readline():
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                if rest.upper().startswith(b"CAPABILITY"):
                    reply = b"* CAPABILITY IMAP4rev1 IDLE\r\n" + tag + b" OK done\r\n"
                elif rest.upper().startswith(b"LOGIN"):
                    reply = tag + b" OK logged in\r\n"
                elif rest.upper().startswith(b"EXAMINE"):
                    reply = (
                        b"* 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n"
                        + tag
                        + b" OK [READ-ONLY] done\r\n"
                    )
                else:
                    reply = script(tag, rest)
                if reply is None:
                    writer.close()
                    return
                hang_up = reply.startswith(b"CLOSE:")
                writer.write(reply.removeprefix(b"CLOSE:"))
                await writer.drain()
                if hang_up:
                    return
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _fetch_script(fetch_reply: bytes | None, search: bytes = b"* SEARCH 1 2\r\n"):  # type: ignore[no-untyped-def]
    def script(tag: bytes, cmd: bytes) -> bytes | None:
        if cmd.startswith(b"UID SEARCH"):
            return search + tag + b" OK done\r\n"
        if cmd.startswith(b"UID FETCH"):
            return None if fetch_reply is None else fetch_reply.replace(b"TAG", tag)
        if cmd.startswith(b"LOGOUT"):
            return b"* BYE\r\n" + tag + b" OK bye\r\n"
        return tag + b" BAD what\r\n"

    return script


@pytest.mark.parametrize(
    ("fetch_reply", "search", "error", "match"),
    [
        # A body without a UID: we could not record where it came from.
        (b"* 1 FETCH (BODY[] {5}\r\nhello)\r\nTAG OK done\r\n", None, ImapProtocolError,
         "FETCH response without a UID"),
        # The connection ends in the middle of a literal.
        (b"CLOSE:* 1 FETCH (UID 1 BODY[] {500}\r\nhel", None, ImapConnectionLost,
         "connection lost during UID FETCH"),
        # Binary junk instead of a response, then silence: the inactivity timeout ends it.
        (b"\x00\xff\xfe junk {12\r\n", None, ImapError, "UID FETCH"),
        # The server refuses.
        (b"TAG NO [SERVERBUG] broken\r\n", None, ImapProtocolError, "UID FETCH failed: NO"),
        # SEARCH results that are not numbers.
        (b"", b"* SEARCH 1 two\r\n", ImapProtocolError, "unexpected token"),
    ],
)
async def test_garbage_responses_are_errors_not_hangs(
    tmp_path: Path,
    fetch_reply: bytes,
    search: bytes | None,
    error: type[Exception],
    match: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = 'pa"ss\\word'
    server = await _fake_server(_fetch_script(fetch_reply, search or b"* SEARCH 1 2\r\n"))
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.DEBUG)
    try:
        client = await ImapClient.connect("127.0.0.1", port, security="plain", timeout=2)
        await client.login("u", password)  # LOGIN (no AUTH=PLAIN offered), quoted
        await client.select("INBOX")
        t0 = time.monotonic()
        with pytest.raises(error, match=match):
            uids = await client.uids_from(1)
            await client.fetch_bodies(uids)
        assert time.monotonic() - t0 < 5
        client.abort()
    finally:
        server.close()
    for form in secret_forms(password, "u"):
        assert form not in caplog.text


async def test_garbage_greeting_is_an_error(tmp_path: Path) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(ImapError, match=f"127.0.0.1:{port}: no IMAP greeting"):
            await ImapClient.connect("127.0.0.1", port, security="plain", timeout=1)
        assert time.monotonic() - t0 < 4
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# The real command line


def _write_config(path: Path, dovecot: Dovecot, batch_size: int) -> None:  # noqa: F811
    path.write_text(
        "[[accounts]]\n"
        'name = "reports"\n'
        f'host = "{dovecot.host}"\n'
        f"port = {dovecot.imaps_port}\n"
        'security = "tls"\n'
        f'username = "{dovecot.user}"\n'
        f'password_env = "{PASSWORD_ENV}"\n'
        f'ca_file = "{dovecot.ca_file}"\n'
        'folders = ["INBOX"]\n'
        f"batch_size = {batch_size}\n"
    )


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tlsrpt_tui", *args]


def test_cli_sync_then_kill_9_and_resume_equals_clean_sync(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    tmp_path: Path,
) -> None:
    messages, expected = mixed(600)
    dovecot.append_maildir(messages)
    cfg = tmp_path / "config.toml"
    _write_config(cfg, dovecot, batch_size=5)
    env = {**os.environ, PASSWORD_ENV: dovecot.password}
    db = tmp_path / "cli.sqlite3"

    # kill -9 in the middle of the sync ...
    proc = subprocess.Popen(
        _cli("sync", "--config", str(cfg), "--db", str(db)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert proc.stderr is not None
    seen_progress = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        if not line:
            break
        if " seen, " in line and "to go" in line:
            seen_progress = True
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert seen_progress and proc.returncode == -signal.SIGKILL
    with Store(db) as store:
        state = imap_state.get(store, "reports", "INBOX")
        assert state is not None and 0 < state.last_uid < 600

    # ... then the same command again completes it.
    done = subprocess.run(
        _cli("sync", "--config", str(cfg), "--db", str(db)),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # some mail was rejected (unreadable reports)
    assert "total: " in done.stdout
    assert "rejected" in done.stderr and "broken!" in done.stderr
    for form in secret_forms(dovecot.password, dovecot.user):
        assert form not in done.stdout + done.stderr

    import asyncio as _asyncio

    with Store(tmp_path / "clean.sqlite3") as clean:
        _asyncio.run(sync_account(clean, account_for(name="reports", batch_size=5)))
        want = dump(clean)
    with Store(db) as store:
        got = dump(store)
    assert got["inputs"] == want["inputs"]
    assert got["reports"] == want["reports"]
    assert [s[:4] for s in got["state"]] == [s[:4] for s in want["state"]]
    assert len(got["reports"]) == expected["report"]


def test_cli_usage_errors(tmp_path: Path, dovecot: Dovecot) -> None:  # noqa: F811
    cfg = tmp_path / "config.toml"
    _write_config(cfg, dovecot, batch_size=50)
    res = subprocess.run(
        _cli("sync", "--config", str(cfg), "--db", str(tmp_path / "d.sqlite3"), "--account", "x"),
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert res.returncode == 2
    assert "no account named x (known: reports)" in res.stderr
    res = subprocess.run(
        _cli("sync", "--config", str(cfg), "--db", str(tmp_path / "d.sqlite3"), "--jobs", "0"),
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert res.returncode == 2
    assert "--jobs must be between 1 and 64" in res.stderr
    # Password variable unset: one clear line, exit 1.
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    res = subprocess.run(
        _cli("sync", "--config", str(cfg), "--db", str(tmp_path / "d.sqlite3")),
        capture_output=True, text=True, cwd=REPO, timeout=60, env=env,
    )
    assert res.returncode == 1
    assert f"environment variable {PASSWORD_ENV} (password_env) is not set" in res.stderr


def test_cli_watch_ingests_new_mail_and_stops_on_ctrl_c(
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
) -> None:
    dovecot.append([google_report(1)])
    cfg = tmp_path / "config.toml"
    _write_config(cfg, dovecot, batch_size=50)
    db = tmp_path / "w.sqlite3"
    proc = subprocess.Popen(
        _cli("sync", "--watch", "--config", str(cfg), "--db", str(db)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, PASSWORD_ENV: dovecot.password},
        cwd=REPO,
    )
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline().decode()
            if ("watching" in line and "INBOX" in line) or not line:
                break
        assert "INBOX: watching" in line
        dovecot.append([google_report(2)])
        deadline = time.monotonic() + 15
        reports = 0
        while time.monotonic() < deadline and reports < 2:
            time.sleep(0.2)
            with Store(db) as store:
                reports = count(store, "reports")
        assert reports == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"total: 1 seen, 1 new" in out


async def test_slow_but_steady_fetch_is_not_cut_by_the_inactivity_timeout() -> None:
    body = b"Subject: slow\r\n\r\n" + b"x" * 4000 + b"\r\n"
    chunks = [b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(body)]
    chunks += [body[i : i + 500] for i in range(0, len(body), 500)]

    def script(tag: bytes, cmd: bytes) -> bytes | None:
        if cmd.startswith(b"UID SEARCH"):
            return b"* SEARCH 1\r\n" + tag + b" OK done\r\n"
        return tag + b" BAD what\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK fake ready\r\n")
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while line := await reader.readline():
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                if rest.startswith(b"UID FETCH"):
                    for chunk in chunks:  # 9 pieces, 0.3 s apart: 2.7 s in all
                        writer.write(chunk)
                        await writer.drain()
                        await asyncio.sleep(0.3)
                    writer.write(b")\r\n" + tag + b" OK done\r\n")
                    continue
                if rest.startswith(b"CAPABILITY"):
                    reply = b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n"
                elif rest.startswith(b"LOGIN"):
                    reply = tag + b" OK in\r\n"
                elif rest.startswith(b"EXAMINE"):
                    reply = b"* OK [UIDVALIDITY 1] ok\r\n" + tag + b" OK done\r\n"
                else:
                    reply = script(tag, rest) or b""
                writer.write(reply)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = await ImapClient.connect("127.0.0.1", port, security="plain", timeout=1)
        await client.login("u", "p")
        await client.select("INBOX")
        t0 = time.monotonic()
        assert await client.fetch_bodies(await client.uids_from(1)) == {1: body}
        assert time.monotonic() - t0 > 2  # longer than the timeout, yet not cut
        client.abort()
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# A server that never stops sending: the client stops reading at a bound, with a clear error.


async def _flooding_server(command: bytes, start: bytes, sent: list[int]) -> asyncio.Server:
    """Answers ``command`` with ``start`` and then ``x``s without end (up to 256 MiB), counting
    in ``sent`` what it managed to send before the client closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK fake ready\r\n")
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while line := await reader.readline():
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                if rest.startswith(command):
                    writer.write(start)
                    chunk = b"x" * 65536
                    while sent[0] < 256 * 1024 * 1024:
                        writer.write(chunk)
                        await writer.drain()
                        sent[0] += len(chunk)
                    return
                if rest.startswith(b"UID SEARCH"):
                    reply = b"* SEARCH 1\r\n" + tag + b" OK done\r\n"
                elif rest.startswith(b"EXAMINE"):
                    reply = b"* OK [UIDVALIDITY 1] ok\r\n" + tag + b" OK done\r\n"
                elif rest.startswith(b"CAPABILITY"):
                    reply = b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n"
                else:
                    reply = tag + b" OK done\r\n"
                writer.write(reply)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize(("command", "start", "match", "most"), [
    # A literal announced far over any message the sync fetches whole: refused at once.
    (b"UID FETCH", b"* 1 FETCH (UID 1 BODY[] {99999999999}\r\n",
     "sent a literal of 99999999999 bytes, over the 67108864-byte limit", 8),
    # A response line that never ends.
    (b"UID FETCH", b"* 1 FETCH (UID 1 BODY[] ", "sent a line of over 1048576 bytes", 8),
    # The same in a response the library reads (no FETCH pending): its own, smaller bound.
    (b"UID SEARCH", b"* SEARCH 1 2 3 ", "sent a response of over 4194304 bytes", 12),
])
async def test_a_server_flooding_one_response_is_cut_off_at_a_bound(
    command: bytes, start: bytes, match: str, most: int
) -> None:
    sent = [0]
    server = await _flooding_server(command, start, sent)
    port = server.sockets[0].getsockname()[1]
    try:
        client = await ImapClient.connect("127.0.0.1", port, security="plain", timeout=10)
        await client.login("u", "p")
        await client.select("INBOX")
        with pytest.raises(ImapProtocolError, match=match):
            await client.fetch_bodies(await client.uids_from(1))
        client.abort()
        # it stopped reading there: the server got no further than the socket buffers allow
        assert sent[0] < most * 1024 * 1024
    finally:
        server.close()
