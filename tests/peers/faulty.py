"""Misbehaving peers on loopback: DNS, HTTPS, SMTP and an IMAP proxy, broken on purpose.

Why our own servers: Knot, Unbound, aiosmtpd and Dovecot behave well; the fault tests need a
resolver that times out or truncates, a policy host that drips its body or never ends it, an MX
that never greets or refuses STARTTLS half-way, and an IMAP connection that dies inside a FETCH.
Each server runs in threads (independent of the test's event loop), binds on an address of a
random ``127.A.B.0/24`` block (so concurrent runs do not collide) and counts what it saw, so
tests can assert that a fault was really hit (e.g. that a truncated UDP answer was retried over
TCP). A peer that cannot start raises RuntimeError and the fixtures turn that into a FAILED
test, never a skip.

- :class:`FaultyDns` (UDP + TCP, dnspython messages): answers records added with ``add``;
  names marked with ``fault`` time out, SERVFAIL, REFUSE, answer truncated (TC bit; the TCP
  retry gets the full answer, or a dead TCP side), send garbage, or answer late. Like a real
  server it sets TC when an answer exceeds the client's EDNS payload (huge TXT sets).
- :class:`FaultyHttps` (one address per mode, port 443): drips the body a byte at a time, sends
  an endless body (plain or chunked) or endless headers, redirects to itself, never answers,
  or breaks the TLS handshake (garbage, close or stall after the ClientHello).
- :class:`FaultySmtp` (one address per mode, port 25): silent banner, banner dripped one
  continuation line at a time, STARTTLS offered then refused (454), closed or stalled in the
  middle of the TLS handshake.
- :class:`ImapFaultProxy` (random port): a plaintext proxy in front of the real Dovecot that
  passes traffic until the server's Nth ``FETCH`` response, then drops the connection, stalls,
  or injects garbage.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import random
import re
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

STOP_WAIT = 5.0


class _Threads:
    """Sockets and threads of one server, closed and joined by :meth:`stop`."""

    def __init__(self) -> None:
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.stopped = threading.Event()

    def sock(self, s: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(s)
        return s

    def spawn(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def stop(self) -> None:
        self.stopped.set()
        with self._lock:
            socks, self._socks = self._socks, []
            threads = list(self._threads)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        for t in threads:
            t.join(STOP_WAIT)


def _listen(address: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((address, port))
        s.listen(128)
    except OSError:
        s.close()
        raise
    return s


def _recv_until(conn: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# ----------------------------------------------------------------------------------------------
# DNS

DNS_FAULTS = (
    "timeout",  # no answer at all, UDP or TCP
    "servfail",
    "refused",
    "truncated",  # UDP: TC bit and no records; TCP: the full answer
    "truncated-dead-tcp",  # UDP: TC bit; TCP: the connection is closed without an answer
    "garbage",  # UDP: bytes that are not a DNS message (the client must ignore them)
    "slow",  # the right answer, late (``delay`` seconds)
)


@dataclass
class _DnsFault:
    kind: str
    delay: float = 0.0


class FaultyDns:
    """A small authoritative-and-recursive-looking DNS server with faults per name."""

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.port = port
        self._records: dict[tuple[str, str], list[str]] = {}
        self._faults: dict[tuple[str, str | None], _DnsFault] = {}
        self._lock = threading.Lock()
        self.log: list[tuple[str, str, str]] = []  # (udp|tcp, name, type)
        self._t = _Threads()

    @property
    def resolver(self) -> str:
        return f"{self.address}:{self.port}"

    # -- configuration ---------------------------------------------------------------------
    def add(self, name: str, rdtype: str, *rdatas: str) -> None:
        """Serve these records (zone-file rdata text) for ``name``/``rdtype``."""
        key = (name.lower().rstrip("."), rdtype.upper())
        with self._lock:
            self._records.setdefault(key, []).extend(rdatas)

    def fault(self, name: str, kind: str, rdtype: str | None = None, delay: float = 0.0) -> None:
        """Make queries for ``name`` (and ``rdtype``, or every type) misbehave as ``kind``."""
        if kind not in DNS_FAULTS:
            raise ValueError(f"unknown DNS fault {kind!r}; known: {DNS_FAULTS}")
        with self._lock:
            self._faults[(name.lower().rstrip("."), rdtype and rdtype.upper())] = _DnsFault(
                kind, delay
            )

    def queries(self, name: str, transport: str | None = None) -> int:
        name = name.lower().rstrip(".")
        with self._lock:
            return sum(
                1 for t, n, _ in self.log if n == name and (transport is None or t == transport)
            )

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> FaultyDns:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((self.address, self.port))
            tcp = _listen(self.address, self.port)
        except OSError:
            udp.close()
            raise
        self._t.sock(udp)
        self._t.sock(tcp)
        self._t.spawn(self._udp_loop, udp)
        self._t.spawn(self._tcp_loop, tcp)
        return self

    def stop(self) -> None:
        self._t.stop()

    # -- serving ---------------------------------------------------------------------------
    def _fault_for(self, name: str, rdtype: str) -> _DnsFault | None:
        with self._lock:
            return self._faults.get((name, rdtype)) or self._faults.get((name, None))

    def _udp_loop(self, sock: socket.socket) -> None:
        while not self._t.stopped.is_set():
            try:
                wire, peer = sock.recvfrom(65535)
            except OSError:
                return
            self._t.spawn(self._udp_one, sock, wire, peer)

    def _udp_one(self, sock: socket.socket, wire: bytes, peer: Any) -> None:
        reply = self._answer(wire, "udp")
        if reply is not None:
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)

    def _tcp_loop(self, sock: socket.socket) -> None:
        while not self._t.stopped.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self._t.sock(conn)
            self._t.spawn(self._tcp_one, conn)

    def _tcp_one(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with contextlib.suppress(OSError), conn:
            while True:
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                wire = _recv_exact(conn, struct.unpack("!H", head)[0])
                if wire is None:
                    return
                reply = self._answer(wire, "tcp")
                if reply is None:
                    if self._t.stopped.wait(0):
                        return
                    # timeout / dead TCP: keep silent or hang up
                    return self._hold_or_close(conn, wire)
                conn.sendall(struct.pack("!H", len(reply)) + reply)

    def _hold_or_close(self, conn: socket.socket, wire: bytes) -> None:
        query = dns.message.from_wire(wire)
        name = query.question[0].name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(query.question[0].rdtype)
        fault = self._fault_for(name, rdtype)
        if fault is not None and fault.kind == "timeout":
            self._t.stopped.wait(60)  # silent until the test ends

    def _answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        q = query.question[0]
        name = q.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(q.rdtype)
        with self._lock:
            self.log.append((transport, name, rdtype))
        fault = self._fault_for(name, rdtype)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        kind = fault.kind if fault else None
        if kind == "timeout":
            return None
        if kind == "slow":
            self._t.stopped.wait(fault.delay)  # type: ignore[union-attr]
        if kind == "garbage" and transport == "udp":
            return b"\xde\xad\xbe\xef not a DNS message at all"
        if kind == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        if kind == "refused":
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        if kind in ("truncated", "truncated-dead-tcp") and transport == "udp":
            response.flags |= dns.flags.TC
            return response.to_wire()
        if kind == "truncated-dead-tcp":
            return None
        with self._lock:
            rdatas = list(self._records.get((name, rdtype), []))
            exists = any(n == name for n, _ in self._records)
        if rdatas:
            rrset = dns.rrset.from_text_list(q.name, 300, dns.rdataclass.IN, q.rdtype, rdatas)
            response.answer.append(rrset)
        elif not exists:
            response.set_rcode(dns.rcode.NXDOMAIN)
        limit = 65535 if transport == "tcp" else (query.payload if query.edns >= 0 else 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            # What a real server does: drop the records, set TC, the client retries over TCP.
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# ----------------------------------------------------------------------------------------------
# HTTPS (MTA-STS policy hosts)

HTTPS_MODES = (
    "drip",  # 200, Content-Length 200, then one byte every ``drip_interval`` seconds
    "endless",  # 200 text/plain, no Content-Length, bytes until the client hangs up
    "endless-chunked",  # the same with Transfer-Encoding: chunked
    "endless-headers",  # a status line, then header lines forever
    "gzip-bomb",  # Content-Encoding: gzip (never asked for), 256 MiB of zeros in ~1 MB
    "redirect-loop",  # 301 to itself
    "no-response",  # TLS is fine, the request is read, nothing is ever answered
    "tls-garbage",  # the ClientHello is answered with bytes that are not TLS
    "tls-close",  # the connection is closed right after the ClientHello
    "tls-stall",  # the ClientHello is never answered
)


class _TcpFaultServer:
    """Listen on (address, port) and serve each connection with ``_session`` in a thread."""

    address: str
    port: int
    connections: int
    _t: _Threads

    def start(self) -> Self:
        sock = self._t.sock(_listen(self.address, self.port))
        self._t.spawn(self._accept, sock)
        return self

    def stop(self) -> None:
        self._t.stop()

    def _accept(self, sock: socket.socket) -> None:
        while not self._t.stopped.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.connections += 1
            self._t.sock(conn)
            self._t.spawn(self._session, conn)

    def _session(self, conn: socket.socket) -> None:
        raise NotImplementedError


class FaultyHttps(_TcpFaultServer):
    """One misbehaving HTTPS policy host per address; TLS with a certificate of the test CA."""

    def __init__(
        self, address: str, port: int, mode: str, context: ssl.SSLContext | None,
        drip_interval: float = 0.25,
    ) -> None:  # fmt: skip
        if mode not in HTTPS_MODES:
            raise ValueError(f"unknown HTTPS mode {mode!r}; known: {HTTPS_MODES}")
        self.address = address
        self.port = port
        self.mode = mode
        self.context = context
        self.drip_interval = drip_interval
        self.connections = 0
        self.requests = 0
        self.bytes_sent = 0
        self._t = _Threads()

    def start(self) -> Self:
        if self.mode == "gzip-bomb":
            _gzip_bomb()  # built now, so the first request is answered at once
        return super().start()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with contextlib.suppress(OSError, ssl.SSLError), conn:
            if self.mode.startswith("tls-"):
                conn.recv(4096)  # the ClientHello
                if self.mode == "tls-garbage":
                    conn.sendall(b"HTTP/1.0 400 this is not TLS\r\n\r\n" * 4)
                elif self.mode == "tls-stall":
                    self._t.stopped.wait(60)
                return
            assert self.context is not None
            tls = self.context.wrap_socket(conn, server_side=True)
            self._t.sock(tls)
            request = _recv_until(tls, b"\r\n\r\n")
            if not request:
                return
            self.requests += 1
            self._respond(tls, request)

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.bytes_sent += len(data)

    def _respond(self, conn: socket.socket, request: bytes) -> None:
        mode = self.mode
        if mode == "no-response":
            self._t.stopped.wait(60)
        elif mode == "redirect-loop":
            host = re.search(rb"(?im)^host:\s*(\S+)", request)
            target = b"https://" + (host.group(1) if host else b"x") + b"/.well-known/mta-sts.txt"
            self._send(
                conn,
                b"HTTP/1.1 301 Moved Permanently\r\nLocation: " + target
                + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )  # fmt: skip
        elif mode == "drip":
            self._send(
                conn,
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 200\r\n\r\n",
            )
            for _ in range(200):
                if self._t.stopped.wait(self.drip_interval):
                    return
                self._send(conn, b"v")
        elif mode == "endless":
            self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            chunk = b"mx: mx.example.test\n" * 800
            while not self._t.stopped.is_set():
                self._send(conn, chunk)
        elif mode == "endless-chunked":
            self._send(
                conn,
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n",
            )
            data = b"#" * 4096
            chunk = b"%x\r\n" % len(data) + data + b"\r\n"
            while not self._t.stopped.is_set():
                self._send(conn, chunk)
        elif mode == "gzip-bomb":
            self._send(
                conn,
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                b"Connection: close\r\n\r\n",
            )
            self._send(conn, _gzip_bomb())
        elif mode == "endless-headers":
            self._send(conn, b"HTTP/1.1 200 OK\r\n")
            line = b"X-Filler: " + b"a" * 100 + b"\r\n"
            while not self._t.stopped.is_set():
                self._send(conn, line * 10)


@functools.lru_cache(maxsize=1)
def _gzip_bomb(megabytes: int = 256) -> bytes:
    """gzip of ``megabytes`` MiB of zeros (~4.5 KB per MiB at level 1, built in 0.4 s)."""
    co = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    return b"".join(co.compress(zeros) for _ in range(megabytes)) + co.flush()


# ----------------------------------------------------------------------------------------------
# SMTP (MX hosts)

SMTP_MODES = (
    "silent",  # accepts the connection, never sends a greeting
    "drip-banner",  # a multi-line 220 greeting, one continuation line every 0.25 s, forever
    "starttls-454",  # offers STARTTLS, then answers it with 454 TLS not available
    "starttls-close",  # 220 to STARTTLS, reads the ClientHello, hangs up
    "starttls-stall",  # 220 to STARTTLS, reads the ClientHello, never answers
    "endless-greeting",  # "220 " then bytes without a line end, forever
    "huge-ehlo",  # an EHLO reply with a 10 MB line (STARTTLS offered after it)
)


class FaultySmtp(_TcpFaultServer):
    """One misbehaving MX per address."""

    def __init__(self, address: str, port: int, mode: str, drip_interval: float = 0.25) -> None:
        if mode not in SMTP_MODES:
            raise ValueError(f"unknown SMTP mode {mode!r}; known: {SMTP_MODES}")
        self.address = address
        self.port = port
        self.mode = mode
        self.drip_interval = drip_interval
        self.connections = 0
        self.commands: list[bytes] = []
        self._t = _Threads()


    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        name = f"{self.mode}.faulty.test".encode()
        with contextlib.suppress(OSError), conn:
            if self.mode == "silent":
                self._t.stopped.wait(60)
                return
            if self.mode == "drip-banner":
                conn.sendall(b"220-" + name + b" hello\r\n")
                while not self._t.stopped.wait(self.drip_interval):
                    conn.sendall(b"220-still greeting you\r\n")
                return
            if self.mode == "endless-greeting":
                conn.sendall(b"220 ")
                while not self._t.stopped.is_set():
                    conn.sendall(b"A" * 65536)
                return
            conn.sendall(b"220 " + name + b" ESMTP\r\n")
            reader = conn.makefile("rb")
            while line := reader.readline():
                self.commands.append(line.strip())
                verb = line[:8].upper()
                if verb.startswith((b"EHLO", b"HELO")) and self.mode == "huge-ehlo":
                    conn.sendall(b"250-" + name + b"\r\n250-X" + b"B" * 10_000_000 + b"\r\n")
                    conn.sendall(b"250 STARTTLS\r\n")
                elif verb.startswith((b"EHLO", b"HELO")):
                    conn.sendall(b"250-" + name + b"\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
                elif verb.startswith(b"STARTTLS"):
                    if self.mode == "starttls-454":
                        conn.sendall(b"454 4.7.0 TLS not available due to temporary reason\r\n")
                        continue
                    conn.sendall(b"220 2.0.0 go ahead\r\n")
                    conn.recv(4096)  # the ClientHello
                    if self.mode == "starttls-stall":
                        self._t.stopped.wait(60)
                    return
                elif verb.startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")


# ----------------------------------------------------------------------------------------------
# IMAP: a proxy in front of the real Dovecot

IMAP_MODES = ("pass", "drop", "stall", "garbage")
#: A FETCH response that carries a message body (size-only FETCH responses do not count).
_FETCH_RESPONSE = re.compile(rb"\* \d+ FETCH \([^\r\n]{0,200}?BODY\[")


class ImapFaultProxy:
    """Plaintext proxy to Dovecot that breaks the server's Nth FETCH response with a body.

    ``mode`` (for connections opened from now on): ``pass``; ``drop`` — forward ``keep``
    bytes of the Nth FETCH response (the middle of the message literal), then close both
    sides; ``stall`` — forward up to that point, then forward nothing more (the connection
    stays open); ``garbage`` — just before the Nth FETCH response, send ``garbage`` bytes.
    ``fired`` counts connections where the fault happened.
    """

    def __init__(self, address: str, target_port: int) -> None:
        self.address = address
        self.target_port = target_port
        self.mode = "pass"
        self.nth = 1
        self.keep = 200
        self.garbage = b""
        self.fired = 0
        self._t = _Threads()
        self._sock = self._t.sock(_listen(address, 0))
        self.port = int(self._sock.getsockname()[1])

    def set(self, mode: str, *, nth: int = 1, keep: int = 200, garbage: bytes = b"") -> None:
        if mode not in IMAP_MODES:
            raise ValueError(f"unknown IMAP proxy mode {mode!r}; known: {IMAP_MODES}")
        self.mode, self.nth, self.keep, self.garbage = mode, nth, keep, garbage

    def start(self) -> Self:
        self._t.spawn(self._accept)
        return self

    def stop(self) -> None:
        self._t.stop()

    def _accept(self) -> None:
        while not self._t.stopped.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._t.sock(client)
            self._t.sock(upstream)
            self._spawn_pumps(client, upstream)

    def _spawn_pumps(self, client: socket.socket, upstream: socket.socket) -> None:
        mode, nth, keep, garbage = self.mode, self.nth, self.keep, self.garbage
        self._t.spawn(self._pump_up, client, upstream)
        self._t.spawn(self._pump_down, upstream, client, mode, nth, keep, garbage)

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _pump_up(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        self._close(src, dst)

    def _pump_down(
        self, src: socket.socket, dst: socket.socket, mode: str, nth: int, keep: int,
        garbage: bytes,
    ) -> None:  # fmt: skip
        seen = 0  # FETCH responses started so far
        tail = b""
        fired = mode == "pass"
        try:
            while data := src.recv(65536):
                if fired:
                    dst.sendall(data)
                    continue
                buf = tail + data
                cut = None
                for m in _FETCH_RESPONSE.finditer(buf):
                    if m.start() < len(tail):
                        continue  # counted with the previous chunk
                    seen += 1
                    if seen == nth:
                        cut = m.start() - len(tail)
                        break
                tail = buf[-256:]
                if cut is None:
                    dst.sendall(data)
                    continue
                fired = True
                self.fired += 1
                if mode == "garbage":
                    dst.sendall(data[:cut] + garbage + data[cut:])
                    continue
                dst.sendall(data[: cut + keep])
                if mode == "drop":
                    break
                self._t.stopped.wait(120)  # stall: hold the connection, forward nothing
                break
        except OSError:
            pass
        self._close(src, dst)


class StarttlsDowngradeProxy(ImapFaultProxy):
    """A man in the middle of a plaintext IMAP connection to Dovecot that attacks STARTTLS.

    ``mode``: ``strip`` removes STARTTLS from every capability list the server sends;
    ``refuse`` answers the client's STARTTLS itself with ``NO`` (never forwarding it);
    ``inject`` forwards the server's ``OK`` to STARTTLS with plaintext responses appended in
    the same packet (the CVE-2011-0411 injection: bytes the client must not read as protected).
    ``client_sent`` holds every byte the client sent, to prove no credential left in clear.
    The accept loop is ImapFaultProxy's; only the two pumps differ.
    """

    MODES = ("strip", "refuse", "inject")
    INJECTED = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGIN] injected in plaintext\r\n"

    def __init__(self, address: str, target_port: int, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown STARTTLS attack {mode!r}; known: {self.MODES}")
        super().__init__(address, target_port)
        self.attack = mode
        self.client_sent = bytearray()

    def _spawn_pumps(self, client: socket.socket, upstream: socket.socket) -> None:
        self._t.spawn(self._pump_up, client, upstream)
        self._t.spawn(self._attack_down, upstream, client)

    def _pump_up(self, src: socket.socket, dst: socket.socket) -> None:
        buf = b""
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                self.client_sent += data
                if self.attack != "refuse":
                    dst.sendall(data)
                    continue
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    tag, _, command = line.partition(b" ")
                    if command.strip().upper() == b"STARTTLS":
                        src.sendall(tag + b" NO [ALERT] STARTTLS is not available here\r\n")
                    else:
                        dst.sendall(line + b"\r\n")
        self._close(src, dst)

    def _attack_down(self, src: socket.socket, dst: socket.socket) -> None:
        injected = False
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if self.attack == "strip":
                    data = re.sub(rb"(?i) STARTTLS\b", b"", data)
                elif self.attack == "inject" and not injected:
                    ok = re.search(rb"(?im)^\S+ OK [^\r\n]*Begin TLS[^\r\n]*\r\n", data)
                    if ok:
                        data = data[: ok.end()] + self.INJECTED + data[ok.end() :]
                        injected = True
                dst.sendall(data)
        self._close(src, dst)


# ----------------------------------------------------------------------------------------------
# The set of faulty network peers, on one random loopback block


@dataclass
class FaultyPeers:
    """Every faulty DNS/HTTPS/SMTP peer on one ``127.A.B.0/24`` block.

    HTTPS peers listen on port 443 and SMTP peers on port 25 (the ports a check uses), each
    mode on its own address: ``https[mode]`` and ``smtp[mode]`` give the address.
    """

    block: str = ""
    dns: FaultyDns | None = None
    https: dict[str, str] = field(default_factory=dict)
    smtp: dict[str, str] = field(default_factory=dict)
    https_servers: dict[str, FaultyHttps] = field(default_factory=dict)
    smtp_servers: dict[str, FaultySmtp] = field(default_factory=dict)
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def start(self, https_context: ssl.SSLContext, attempts: int = 12) -> FaultyPeers:
        last: BaseException | None = None
        for _ in range(attempts):
            block = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}"
            try:
                self._start_block(block, https_context)
                return self
            except OSError as exc:
                last = exc
                self.stop()
                if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                    break
        raise RuntimeError(f"faulty peers could not start: {last!r}")

    def _start_block(self, block: str, https_context: ssl.SSLContext) -> None:
        self.block = block
        dns_server = FaultyDns(f"{block}.53", random.randint(20000, 60000)).start()
        self._stoppers.append(dns_server.stop)
        self.dns = dns_server
        for i, mode in enumerate(HTTPS_MODES):
            server = FaultyHttps(f"{block}.{100 + i}", 443, mode, https_context).start()
            self._stoppers.append(server.stop)
            self.https[mode], self.https_servers[mode] = server.address, server
        for i, mode in enumerate(SMTP_MODES):
            smtp = FaultySmtp(f"{block}.{150 + i}", 25, mode).start()
            self._stoppers.append(smtp.stop)
            self.smtp[mode], self.smtp_servers[mode] = smtp.address, smtp

    def stop(self) -> None:
        while self._stoppers:
            with contextlib.suppress(Exception):
                self._stoppers.pop()()
        self.https.clear()
        self.smtp.clear()


@pytest.fixture(scope="session")
def faulty_peers(tls_peers: Any) -> Iterator[FaultyPeers]:
    """Faulty DNS/HTTPS/SMTP peers; HTTPS certificates come from the TLS peers' test CA."""
    peers = FaultyPeers()
    try:
        peers.start(tls_peers.certs.sni_context("valid"))
    except Exception as exc:
        pytest.fail(f"faulty peers could not start: {exc}")
    yield peers
    peers.stop()


def elapsed(start: float) -> float:
    return time.monotonic() - start


GOOD_POLICY = "version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 604800\n"


def add_domain(
    dns_server: FaultyDns,
    tls_peers: Any,
    domain: str,
    *,
    mx_address: str | None = None,
    policy_address: str | None = None,
) -> None:
    """Serve a healthy domain from ``dns_server``: TLS-RPT and MTA-STS records, a policy on
    the TLS peers' HTTPS host (or ``policy_address``), one MX at the good STARTTLS peer (or
    ``mx_address``). Fault tests then break one name of it at a time."""
    mx = f"mx1.{domain}"
    dns_server.add(f"_smtp._tls.{domain}", "TXT", f'"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"')
    dns_server.add(f"_mta-sts.{domain}", "TXT", '"v=STSv1; id=20261128"')
    dns_server.add(f"mta-sts.{domain}", "A", policy_address or tls_peers.https_address)
    dns_server.add(domain, "MX", f"10 {mx}.")
    dns_server.add(mx, "A", mx_address or tls_peers.smtp["good"])
    tls_peers.set_policy(f"mta-sts.{domain}", body=GOOD_POLICY.format(mx=mx))
