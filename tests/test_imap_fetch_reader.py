"""Our FETCH reader (net/imap.py ``_FastFetch``) against a real Dovecot's bytes.

The reader replaces aioimaplib's line-by-line parsing while a body FETCH is answered, so it
must yield what the library yields for any response and any way the bytes are cut into
chunks (TLS records, TCP segments), and hand the rest back to the library at a line start
when something other than a FETCH response comes (the tagged end, an untagged EXISTS).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import google_report, microsoft_report

from tlsrpt_tui.net import imap
from tlsrpt_tui.net.imap import ImapClient, parse_fetch_bodies, quote

pytestmark = pytest.mark.peers

#: Bodies that look like protocol: literal markers, a FETCH start, a tagged OK, bare braces.
TRICKY = [
    b"Subject: braces {12}\r\n\r\nA line ending in a literal marker {12}\r\n"
    b"* 3 FETCH (UID 9 BODY[] {4}\r\nA1 OK done\r\n)\r\n",
    b"Subject: parens\r\n\r\n((((( unbalanced\r\n}\r\n{\r\n\r\n\r\n",
    b"Subject: big\r\n\r\n" + b"0123456789abcdef" * 9000 + b"\r\n",  # > 128 KiB: many chunks
]


def mailbox(dc: Dovecot) -> list[bytes]:
    msgs = [google_report(1), *TRICKY, microsoft_report(2, failures=True)]
    dc.append(msgs)
    return msgs


def reference_bodies(dc: Dovecot) -> dict[int, bytes]:
    """uid -> body as the standard library's imaplib reads it (independent of our code)."""
    with dc.imap() as conn:
        conn.select("INBOX", readonly=True)
        typ, data = conn.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        assert typ == "OK"
    out = {}
    for item in data:
        if isinstance(item, tuple):
            head = item[0].decode()
            uid = int(head.split("UID ", 1)[1].split()[0])
            out[uid] = item[1]
    return out


def raw_fetch_response(dc: Dovecot) -> bytes:
    """The bytes Dovecot sends for ``A3 UID FETCH 1:* (UID BODY.PEEK[])`` on a plain socket:
    its untagged responses through the tagged OK."""
    with socket.create_connection((dc.host, dc.imap_port), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()  # greeting
        s.sendall(f"A1 LOGIN {quote(dc.user)} {quote(dc.password)}\r\n".encode())
        while not f.readline().startswith(b"A1 "):
            pass
        s.sendall(b"A2 SELECT INBOX\r\n")
        while not f.readline().startswith(b"A2 "):
            pass
        s.sendall(b"A3 UID FETCH 1:* (UID BODY.PEEK[])\r\n")
        out = bytearray()
        while True:
            line = f.readline()
            out += line
            if line.endswith(b"}\r\n"):
                out += f.read(int(line[line.rindex(b"{") + 1 : -3]))
            elif line.startswith(b"A3 "):
                break
        s.sendall(b"A4 LOGOUT\r\n")
    return bytes(out)


async def replay(data: bytes, cuts: list[int], fast: bool) -> list[object]:
    """Feed ``data`` to a protocol waiting for FETCH tag A3, cut at ``cuts``; its lines."""
    loop = asyncio.get_running_loop()
    proto = imap._Protocol(loop, asyncio.Event())
    proto.state = imap._aio.SELECTED
    if not fast:
        proto._fast_fetch = lambda: None  # type: ignore[method-assign]
    cmd = imap._FetchCommand("A3", "1:*", "(UID BODY.PEEK[])", prefix="UID", loop=loop)
    proto.pending_async_commands["FETCH"] = cmd
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        proto.data_received(data[a:b])
    assert proto.failure is None
    await asyncio.wait_for(cmd.wait(), 5)
    assert cmd.response.result == "OK"
    return list(cmd.response.lines)


async def test_replayed_response_reads_the_same_as_the_library_at_every_cut(
    dovecot: Dovecot,  # noqa: F811
) -> None:
    msgs = mailbox(dovecot)
    data = raw_fetch_response(dovecot)
    # an untagged response in the middle: the reader hands over and the library goes on
    second = data.index(b"* 2 FETCH")
    data_exists = data[:second] + b"* 9 EXISTS\r\n" + data[second:]
    expected = reference_bodies(dovecot)
    assert sorted(expected.values()) == sorted(msgs)
    for raw in (data, data_exists):
        library = await replay(raw, [], fast=False)
        assert parse_fetch_bodies(library[:-1]) == expected
        rng = random.Random(len(raw))
        # every cut near the protocol's structure, then random multi-cut splits
        marks = [i for i in range(len(raw)) if raw[i : i + 1] in b"\r\n{}*"][:400]
        singles = sorted({m + d for m in marks for d in (-1, 0, 1, 2) if 0 < m + d < len(raw)})
        splits = [[c] for c in singles]
        splits += [sorted(rng.sample(range(1, len(raw)), k)) for k in (2, 7, 50, 500)] * 5
        splits.append(list(range(1, min(len(raw), 4000))))  # byte by byte at the start
        for cuts in splits:
            assert await replay(raw, cuts, fast=True) == library, cuts[:5]


class RechunkProxy:
    """A TCP proxy that forwards the server's bytes in small random pieces (each sent alone),
    so the client's reads end anywhere: inside a line, a literal marker, a CRLF."""

    def __init__(self, target_port: int, seed: int) -> None:
        self._rng = random.Random(seed)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self.port = int(self._sock.getsockname()[1])
        self._target = target_port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            client, _ = self._sock.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self._target))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, chop: bool) -> None:
        try:
            while data := src.recv(65536):
                i = 0
                while i < len(data):
                    n = self._rng.randint(1, 700) if chop else len(data)
                    dst.sendall(data[i : i + n])
                    i += n
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()


@pytest.mark.parametrize("security", ["plain", "tls"])
async def test_fetch_through_chopped_stream_equals_imaplib(
    dovecot: Dovecot,  # noqa: F811
    security: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    msgs = mailbox(dovecot)
    fed: list[int] = []
    real_feed = imap._FastFetch.feed
    monkeypatch.setattr(imap._FastFetch, "feed",
                        lambda self, d: (fed.append(len(d)), real_feed(self, d))[1])
    port = dovecot.imap_port if security == "plain" else dovecot.imaps_port
    proxy = RechunkProxy(port, seed=7)
    try:
        client = await ImapClient.connect(dovecot.host, proxy.port, security=security,
                                          ca_file=str(dovecot.ca_file))
        async with client:
            await client.login(dovecot.user, dovecot.password)
            await client.select("INBOX")
            uids = await client.uids_from(1)
            got = await client.fetch_bodies(uids)
            again = await client.fetch_bodies(uids[1:3])  # the connection reads on after it
    finally:
        proxy.close()
    expected = reference_bodies(dovecot)
    assert got == expected and sorted(got.values()) == sorted(msgs)
    assert again == {u: expected[u] for u in uids[1:3]}
    assert fed  # our reader read them (in pieces cut anywhere: see the replay test)
    assert not any("\\Seen" in f for f in dovecot.flags().values())

