"""The HTTPS report receiver against a real HTTP client (httpx) on loopback.

In-process tests start the real aiohttp server on 127.0.0.1 port 0 (a free port chosen by the
kernel) with a private store; the kill -9 and memory tests run ``tlsrpt-tui receive`` as its own
process, as an admin would.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import trustme
from report_factory import report, sts_policy, to_json

from tlsrpt_tui.net.http_receiver import (
    HttpLimits,
    RateLimiter,
    ReceiverApp,
    Reply,
    client_address,
    parse_networks,
    start_server,
)
from tlsrpt_tui.service.config import ReceiverSettings
from tlsrpt_tui.service.receiver import Receiver
from tlsrpt_tui.store.database import Store

REPO = Path(__file__).resolve().parent.parent
GZ = {"Content-Type": "application/tlsrpt+gzip"}
JS = {"Content-Type": "application/tlsrpt+json"}


def a_report(i: int, *, failed: int = 0) -> bytes:
    rep = report("Receiver Test Org", f"recv-{i}", "2026-05-11",
                 [sts_policy("example.org", 10 + i, failed)])
    return to_json(rep)


@pytest.fixture
async def receiver(db_location) -> AsyncIterator[tuple[str, Path]]:  # type: ignore[no-untyped-def]
    """The receiver on a fresh store of each backend (SQLite, then PostgreSQL)."""
    db = db_location
    rec = Receiver(db, ReceiverSettings(listen="127.0.0.1:0", rate_limit=0))
    listening = await rec.start()
    try:
        yield listening.urls[0] + "/tlsrpt", db
    finally:
        await rec.stop()


def counts(db: Path) -> dict[str, int]:
    with Store(db) as store:
        conn = store.conn
        return {
            "inputs": conn.execute("SELECT count(*) FROM raw_inputs").fetchone()[0],
            "reports": conn.execute("SELECT count(*) FROM reports").fetchone()[0],
            "rejected": conn.execute(
                "SELECT count(*) FROM raw_inputs WHERE status = 'rejected'").fetchone()[0],
        }


async def test_fifty_concurrent_posts_are_all_stored(receiver: tuple[str, Path]) -> None:
    url, db = receiver
    async with httpx.AsyncClient(timeout=60) as client:
        posts = [
            client.post(url, content=gzip.compress(a_report(i)), headers=GZ) if i % 2
            else client.post(url, content=a_report(i), headers=JS)
            for i in range(50)
        ]
        replies = await asyncio.gather(*posts)
    assert [r.status_code for r in replies] == [201] * 50
    assert all(r.text == "stored 1 report\n" for r in replies)
    assert counts(db) == {"inputs": 50, "reports": 50, "rejected": 0}
    with Store(db) as store:
        sources = {r[0] for r in store.conn.execute("SELECT source FROM raw_inputs")}
        kinds = {r[0] for r in store.conn.execute("SELECT origin_kind FROM raw_inputs")}
        verdicts = {r[0] for r in store.conn.execute("SELECT dkim_result FROM raw_inputs")}
    assert sources == {"https:127.0.0.1"} and kinds == {"https"}
    assert verdicts == {None}  # not mail: no DKIM verdict (null in inbox/show JSON)


async def test_duplicate_is_200_and_stored_once(receiver: tuple[str, Path]) -> None:
    url, db = receiver
    body = gzip.compress(a_report(1))
    async with httpx.AsyncClient() as client:
        first = await client.post(url, content=body, headers=GZ)
        again = await client.post(url, content=body, headers=GZ)
        as_json = await client.post(url, content=a_report(1), headers=JS)
    assert (first.status_code, again.status_code, as_json.status_code) == (201, 200, 200)
    assert again.text.startswith("duplicate")
    assert counts(db)["reports"] == 1


async def test_wrong_method_type_and_path(receiver: tuple[str, Path]) -> None:
    url, db = receiver
    async with httpx.AsyncClient() as client:
        get = await client.get(url)
        text_type = await client.post(url, content=a_report(2),
                                      headers={"Content-Type": "text/plain"})
        no_type = await client.post(url, content=a_report(2))
        brotli = await client.post(url, content=a_report(2),
                                   headers={**JS, "Content-Encoding": "br"})
        elsewhere = await client.post(url.replace("/tlsrpt", "/other"), content=a_report(2),
                                      headers=JS)
    assert get.status_code == 405 and get.headers["Allow"] == "POST"
    assert (text_type.status_code, no_type.status_code, brotli.status_code) == (415, 415, 415)
    assert "application/tlsrpt+gzip" in text_type.text
    assert elsewhere.status_code == 404
    assert counts(db)["inputs"] == 0


async def test_truncated_gzip_is_400_and_kept_as_rejected(receiver: tuple[str, Path]) -> None:
    url, db = receiver
    body = gzip.compress(a_report(3) * 50)
    async with httpx.AsyncClient() as client:
        reply = await client.post(url, content=body[: len(body) // 2], headers=GZ)
        garbage = await client.post(url, content=b"{not json", headers=JS)
        empty = await client.post(url, content=b"", headers=JS)
    assert reply.status_code == 400
    assert reply.text == "gzip data truncated\n"
    assert garbage.status_code == 400 and "\n" not in garbage.text.rstrip("\n")
    assert empty.status_code == 400 and empty.text == "body is empty\n"
    # Raw-first, as import: unreadable bodies stay stored with their reason.
    assert counts(db) == {"inputs": 2, "reports": 0, "rejected": 2}


def _gzip_of_zeros(total: int) -> bytes:
    z = zlib.compressobj(9, wbits=31)
    block = bytes(1024 * 1024)
    out = [z.compress(block) for _ in range(total // len(block))]
    out.append(z.flush())
    return b"".join(out)


async def test_over_limits_is_413_while_streaming(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    settings = ReceiverSettings(listen="127.0.0.1:0", rate_limit=0, max_body_bytes=256 * 1024)
    rec = Receiver(db, settings)
    url = (await rec.start()).urls[0] + "/tlsrpt"
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            bomb = await client.post(url, content=_gzip_of_zeros(64 * 1024 * 1024), headers=GZ)

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
                for _ in range(64):
                    yield b" " * 8192

            big = await client.post(url, content=chunks(), headers=JS)
            declared = await client.post(url, content=b" " * (300 * 1024), headers=JS)
    finally:
        await rec.stop()
    assert bomb.status_code == 413 and "inflates to more than 20 MiB" in bomb.text
    assert big.status_code == 413 and declared.status_code == 413
    assert counts(db)["inputs"] == 0


async def test_tls_with_a_test_ca(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    db = tmp_path / "s.sqlite3"
    rec = Receiver(db, ReceiverSettings(listen="127.0.0.1:0", tls_cert=str(cert_file),
                                        tls_key=str(key_file)))
    listening = await rec.start()
    url = listening.urls[0] + "/tlsrpt"
    try:
        assert url.startswith("https://")
        trusting = ssl.create_default_context(cafile=str(ca_file))
        async with httpx.AsyncClient(verify=trusting) as client:
            ok = await client.post(url, content=gzip.compress(a_report(4)), headers=GZ)
        async with httpx.AsyncClient() as untrusting:  # the system CAs do not know the test CA
            with pytest.raises(httpx.ConnectError):
                await untrusting.post(url, content=a_report(5), headers=JS)
    finally:
        await rec.stop()
    assert ok.status_code == 201
    assert counts(db)["reports"] == 1


async def test_rate_limit_per_client_is_429(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    rec = Receiver(db, ReceiverSettings(listen="127.0.0.1:0", rate_limit=3))
    url = (await rec.start()).urls[0] + "/tlsrpt"
    try:
        async with httpx.AsyncClient() as client:
            replies = [await client.post(url, content=a_report(10 + i), headers=JS)
                       for i in range(4)]
    finally:
        await rec.stop()
    assert [r.status_code for r in replies] == [201, 201, 201, 429]
    assert int(replies[3].headers["Retry-After"]) >= 1
    assert counts(db)["reports"] == 3


async def test_forwarded_for_only_from_trusted_proxies(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    trusting = Receiver(db, ReceiverSettings(listen="127.0.0.1:0", rate_limit=0,
                                             trusted_proxies=("127.0.0.0/8",)))
    url = (await trusting.start()).urls[0] + "/tlsrpt"
    try:
        async with httpx.AsyncClient() as client:
            forwarded = {**JS, "X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
            await client.post(url, content=a_report(20), headers=forwarded)
    finally:
        await trusting.stop()
    plain = Receiver(db, ReceiverSettings(listen="127.0.0.1:0", rate_limit=0))
    url = (await plain.start()).urls[0] + "/tlsrpt"
    try:
        async with httpx.AsyncClient() as client:
            await client.post(url, content=a_report(21),
                              headers={**JS, "X-Forwarded-For": "203.0.113.66"})
    finally:
        await plain.stop()
    with Store(db) as store:
        sources = [r[0] for r in store.conn.execute("SELECT source FROM raw_inputs ORDER BY id")]
    # The proxy's rightmost untrusted hop is the client; a client's own header is ignored.
    assert sources == ["https:203.0.113.7", "https:127.0.0.1"]


def test_client_address_rules() -> None:
    proxies = parse_networks(["10.0.0.0/8", "::1"])
    assert client_address("192.0.2.1", "203.0.113.5", proxies) == "192.0.2.1"
    assert client_address("10.1.1.1", "203.0.113.5", proxies) == "203.0.113.5"
    assert client_address("10.1.1.1", "6.6.6.6, 203.0.113.5, 10.2.2.2", proxies) == "203.0.113.5"
    assert client_address("10.1.1.1", "garbage", proxies) == "10.1.1.1"
    assert client_address("::1", "2001:db8::5", proxies) == "2001:db8::5"
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_networks(["not-an-ip"])


def test_rate_limiter_refills_and_bounds_clients() -> None:
    limiter = RateLimiter(2, max_clients=3)
    assert limiter.check("a", 0.0) is None and limiter.check("a", 0.0) is None
    assert limiter.check("a", 0.0) == 30  # one token per 30 s at 2 per minute
    assert limiter.check("a", 31.0) is None
    for name in "bcde":
        limiter.check(name, 40.0)
    assert len(limiter._buckets) == 3


async def test_internal_error_reaches_no_client() -> None:
    async def broken(_upload: object) -> Reply:
        raise RuntimeError("secret /etc/path in a traceback")

    app = ReceiverApp(broken, limits=HttpLimits(rate_per_minute=0))
    listening = await start_server(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient() as client:
            reply = await client.post(listening.urls[0] + "/tlsrpt", content=a_report(1),
                                      headers=JS)
    finally:
        await listening.close()
    assert reply.status_code == 500
    assert reply.text == "internal error; the report was not stored, retry later\n"


async def test_malformed_http_is_one_line_in_the_log_and_no_trace_anywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """Requests aiohttp itself refuses (broken chunking, a header over 8 KiB, a bad length) are
    answered 400 without a trace and logged as one line like any other answer."""
    events: list[tuple[str, int, str]] = []
    rec = Receiver(tmp_path / "s.sqlite3", ReceiverSettings(listen="127.0.0.1:0", rate_limit=0),
                   on_event=lambda e: events.append((e.client, e.status, e.text)))
    listening = await rec.start()
    head = b"POST /tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n"
    requests = [head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
                head + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n",
                head + b"Content-Length: abc\r\n\r\n"]
    answers = []
    try:
        for request in requests:
            reader, writer = await asyncio.open_connection(*listening.addresses[0])
            writer.write(request)
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.read(), 30))
            writer.close()
    finally:
        await rec.stop()
    assert all(a.startswith(b"HTTP/1.1 400") or a.startswith(b"HTTP/1.0 400") for a in answers)
    assert not [a for a in answers if b"Traceback" in a or b"File " in a]
    assert [(c, s) for c, s, _ in events] == [("127.0.0.1", 400)] * 3
    assert [t.split(":")[0] for _, _, t in events] == ["bad HTTP request"] * 3
    assert "chunk size" in events[0][2] and "8190 bytes" in events[1][2]
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert counts(tmp_path / "s.sqlite3")["inputs"] == 0


# --------------------------------------------------------------------------------------------
# The real command in its own process


def _start_cli(db, *extra: str, home: Path | None = None  # type: ignore[no-untyped-def]
               ) -> tuple[subprocess.Popen[str], str]:
    """``receive`` on ``db`` (an SQLite path, or a PostgreSQL location: its password in
    PGPASSWORD) in its own process; ``home`` holds its config dir (default: the store's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    env["PYTHONPATH"] = str(REPO)
    env["XDG_CONFIG_HOME"] = str((home or Path(db).parent) / "xdg-config")
    if getattr(db, "password", None):
        env["PGPASSWORD"] = db.password
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt_tui", "receive", "--db", str(db),
         "--listen", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.match(r"listening on (http\S+)", line)
    if m is None:
        proc.kill()
        raise AssertionError(f"receive did not start: {line!r} {proc.stderr.read()}")
    return proc, m.group(1)


@pytest.fixture
def cli_receiver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    db = tmp_path / "store.sqlite3"
    proc, url = _start_cli(db, "--rate-limit", "0")
    try:
        yield proc, url, db
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _partial_upload(url: str, body: bytes, sent: int) -> socket.socket:
    """Send the request line, headers and only ``sent`` bytes of the body; keep it open."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body[:sent]
    )
    return sock


def test_gzip_bomb_of_300_mb_is_413_in_bounded_memory(
    cli_receiver: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, url, db = cli_receiver
    bomb = _gzip_of_zeros(300 * 1024 * 1024)
    server = psutil.Process(proc.pid)
    peaks = [server.memory_info().rss]
    done = threading.Event()

    def sample() -> None:  # the server's resident memory every 10 ms during the upload
        while not done.is_set():
            peaks.append(server.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with httpx.Client(timeout=120) as client:
            reply = client.post(url, content=bomb, headers=GZ)
            after = client.post(url, content=a_report(30), headers=JS)
    finally:
        done.set()
        sampler.join()
    peak = max(peaks)
    assert reply.status_code == 413
    assert after.status_code == 201  # still serving
    assert peak < 150 * 1024 * 1024, f"receiver RSS reached {peak / 2**20:.0f} MiB"
    assert counts(db)["inputs"] == 1


def test_client_killed_mid_upload_stores_nothing(
    cli_receiver: tuple[subprocess.Popen[str], str, Path],
) -> None:
    _proc, url, db = cli_receiver
    body = a_report(40)
    sock = _partial_upload(url, body, len(body) // 2)
    time.sleep(0.3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # RST: the client vanished
    with httpx.Client() as client:
        assert client.post(url, content=a_report(41), headers=JS).status_code == 201
    assert counts(db) == {"inputs": 1, "reports": 1, "rejected": 0}


def test_server_killed_mid_upload_leaves_a_consistent_store(
    tmp_path: Path, db_location,  # type: ignore[no-untyped-def]
) -> None:
    """kill -9 of ``receive`` with an upload half sent, on both backends: nothing of it is
    stored, the store is intact, and a restarted receiver takes the same upload whole."""
    db = db_location
    proc, url = _start_cli(db, "--rate-limit", "0", home=tmp_path)
    try:
        with httpx.Client() as client:
            assert client.post(url, content=a_report(50), headers=JS).status_code == 201
        body = a_report(51)
        sock = _partial_upload(url, body, len(body) - 10)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    if isinstance(db, Path):
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
    assert counts(db) == {"inputs": 1, "reports": 1, "rejected": 0}
    # And a restarted receiver takes the same upload whole.
    proc2, url2 = _start_cli(db, "--rate-limit", "0", home=tmp_path)
    try:
        with httpx.Client() as client:
            assert client.post(url2, content=body, headers=JS).status_code == 201
    finally:
        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(10) == 0
    assert counts(db)["reports"] == 2


def test_cli_refuses_to_start_without_an_address_or_with_a_bad_certificate(
    tmp_path: Path,
) -> None:
    from cli_helpers import run_cli

    db = tmp_path / "s.sqlite3"
    none = run_cli("receive", db=db)
    assert none.returncode == 2 and "--listen" in none.stderr
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    cert = run_cli("receive", "--listen", "127.0.0.1:0", "--tls-cert", str(bad), db=db)
    assert cert.returncode == 2
    assert "cannot load the TLS certificate" in cert.stderr and "Traceback" not in cert.stderr
    addr = run_cli("receive", "--listen", "nowhere", db=db)
    assert addr.returncode == 2 and "HOST:PORT" in addr.stderr


def test_watch_runs_the_receiver_from_the_config(tmp_path: Path, db_location) -> None:  # type: ignore[no-untyped-def]
    """``[receiver] listen`` makes ``watch`` serve the endpoint as one of its supervised tasks
    (on both backends: the store's location, password included, reaches the writer thread)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[receiver]\nlisten = "127.0.0.1:0"\nrate_limit = 0\n')  # nothing else
    db = db_location
    log = tmp_path / "watch.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    env["PYTHONPATH"] = str(REPO)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    if getattr(db, "password", None):
        env["PGPASSWORD"] = db.password
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tlsrpt_tui", "watch", "--config", str(cfg), "--db", str(db)],
            stderr=err, stdout=subprocess.DEVNULL, env=env,
        )
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"receiver listening on (http://\S+)", log.read_text(errors="replace"))
            url = m.group(1) if m else None
            time.sleep(0.1)
        assert url is not None, log.read_text(errors="replace")
        with httpx.Client() as client:
            assert client.post(url, content=gzip.compress(a_report(60)), headers=GZ
                               ).status_code == 201
            assert client.get(url).status_code == 405
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    text = log.read_text(errors="replace")
    assert "receiver: 127.0.0.1: 201 stored 1 report" in text
    assert counts(db)["reports"] == 1
