"""Real TLS peers on loopback: an HTTPS policy host and STARTTLS SMTP servers (session fixture).

``tls_peers`` starts, once per test session, on a random block ``127.A.B.0/24`` (chosen at start,
retried with another block when a bind fails, so two concurrent test runs do not collide):

- ``https_address`` (``127.A.B.2``), port 443: a threaded ``http.server`` with TLS. The certificate
  is chosen per SNI name, the response per ``Host`` header, both configured with
  ``set_policy(host, status=200, body=..., content_type="text/plain", location=None, size=None,
  cert="valid", content_length=True)``: ``location`` adds a ``Location`` header (use with
  301/302), ``size`` pads the body with ``#`` to exactly that many bytes (for the 64 KiB limit),
  ``cert`` is one of ``CERT_KINDS``, ``content_length=False`` omits that header (the body then
  ends when the connection closes). An unconfigured host gets 404 with a certificate for its name.
- ``smtp[name]`` -> address (port 25) of aiosmtpd servers, one per address:
  ``good`` (STARTTLS, certificate for the SNI name from the test CA, via an intermediate CA, with a
  FIXED key: ``good_spki_sha256`` / ``good_cert_der(host)`` / ``good_chain_der(host)``),
  ``no-starttls`` (EHLO without STARTTLS), ``expired``, ``expiring`` (5 days left),
  ``wrong-name`` (certificate only for ``wrong-name.invalid``), ``self-signed``,
  ``old-tls`` (TLS 1.0/1.1 only), ``trustme`` (a leaf issued by ``trustme`` itself, with the
  critical SAN beside a non-empty subject that many private CAs issue and that OpenSSL-based
  MTAs accept but strict WebPKI verifiers reject), ``silent`` (accepts TCP on ports 25 AND
  443, never says anything: a dead MX or policy host that times out) and ``refused`` (nothing
  listens there: connections are refused, on any port), ``broken-tls`` (offers and accepts
  STARTTLS, then answers the ClientHello with garbage: a failed handshake).
- ``ca_file``: PEM of the test root CA; the product trusts it through its normal ``ca_file``
  option. ``root_der`` / ``intermediate_der``: the CA certificates (for DANE-TA records).

Every certificate except ``wrong-name`` names the SNI host the client asked for, so one server
serves any number of MX names. A server that cannot start fails the session (no skip).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import gzip
import hashlib
import http.server
import random
import socket
import ssl
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_KINDS = ("valid", "expired", "expiring", "wrong-name", "self-signed", "trustme")
SMTP_SERVERS = (
    "good",
    "trustme",
    "no-starttls",
    "expired",
    "expiring",
    "wrong-name",
    "self-signed",
    "old-tls",
)
WRONG_NAME = "wrong-name.invalid"
DEFAULT_NAME = "default.invalid"  # certificate name when the client sends no SNI

_HOSTS = {  # last octet of each peer address in the block
    "https": 2,
    "good": 10,
    "no-starttls": 11,
    "expired": 12,
    "expiring": 13,
    "wrong-name": 14,
    "self-signed": 15,
    "old-tls": 16,
    "silent": 17,
    "refused": 18,
    "broken-tls": 19,
    "trustme": 20,
}


@dataclass
class _Policy:
    status: int = 200
    body: str = ""
    content_type: str = "text/plain"
    location: str | None = None
    size: int | None = None
    cert: str = "valid"
    content_length: bool = True
    content_encoding: str | None = None


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertFactory:
    """Test CA (root + intermediate) that issues and caches chains and server contexts per
    (kind, SNI name); thread-safe. Also usable on its own for pure certificate tests."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = trustme.CA()
        self.inter = self.root.create_child_ca()
        self.ca_file = tmp / "test-ca.pem"
        self.ca_file.write_bytes(self.root.cert_pem.bytes())
        self.root_cert = x509.load_pem_x509_certificate(self.root.cert_pem.bytes())
        self.inter_cert = x509.load_pem_x509_certificate(self.inter.cert_pem.bytes())
        self.inter_key = serialization.load_pem_private_key(
            self.inter.private_key_pem.bytes(), None
        )
        self.good_key = ec.generate_private_key(ec.SECP256R1())
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, str, bool], ssl.SSLContext] = {}
        self._chains: dict[tuple[str, str], tuple[list[x509.Certificate], Any]] = {}
        self._files = 0

    def chain(self, kind: str, name: str) -> list[x509.Certificate]:
        """The chain served for ``kind`` to a client that asked for ``name`` (leaf first)."""
        with self._lock:
            return self._chain_locked(kind, name)[0]

    def _chain_locked(self, kind: str, name: str) -> tuple[list[x509.Certificate], Any]:
        cached = self._chains.get((kind, name))
        if cached is not None:
            return cached
        now = dt.datetime.now(dt.UTC)
        not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=90)
        names = [name]
        if kind == "expired":
            not_before, not_after = now - dt.timedelta(days=60), now - dt.timedelta(days=2)
        elif kind == "expiring":
            not_after = now + dt.timedelta(days=5)
        elif kind == "wrong-name":
            names = [WRONG_NAME]
        elif kind not in CERT_KINDS:
            raise ValueError(f"unknown certificate kind {kind!r}; known: {CERT_KINDS}")
        key = self.good_key if kind == "valid" else ec.generate_private_key(ec.SECP256R1())
        if kind == "trustme":  # trustme's own leaf: critical SAN beside a non-empty subject
            issued = self.inter.issue_cert(name)
            leaf = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
            key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
            chain = [leaf, self.inter_cert]
        elif kind == "self-signed":
            chain = [_issue(names, key, key, None, not_before, not_after)]
        else:
            leaf = _issue(names, key, self.inter_key, self.inter_cert, not_before, not_after)
            chain = [leaf, self.inter_cert]
        self._chains[(kind, name)] = (chain, key)
        return chain, key

    def context(
        self, kind: str, name: str, *, old_tls: bool = False, shared: bool = True
    ) -> ssl.SSLContext:
        """A server context presenting the ``kind`` chain for ``name``.

        ``shared=False`` gives a context of its own, for one that gets an sni_callback (a
        cached context is shared, and its callback would be overwritten by the next user).
        """
        with self._lock:
            ctx = self._contexts.get((kind, name, old_tls)) if shared else None
            if ctx is not None:
                return ctx
            chain, key = self._chain_locked(kind, name)
            self._files += 1
            chain_path = self.tmp / f"srv{self._files}.crt"
            key_path = self.tmp / f"srv{self._files}.key"
            chain_path.write_bytes(b"".join(_pem_cert(c) for c in chain))
            key_path.write_bytes(_pem_key(key))
            ctx = _server_context(old_tls)
            ctx.load_cert_chain(chain_path, key_path)
            if shared:
                self._contexts[(kind, name, old_tls)] = ctx
            return ctx

    def sni_context(self, kind: str, *, old_tls: bool = False) -> ssl.SSLContext:
        """A context that switches to the certificate for the client's SNI name."""
        ctx = self.context(kind, DEFAULT_NAME, old_tls=old_tls, shared=False)

        def pick(sslobj: Any, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            sslobj.context = self.context(kind, server_name or DEFAULT_NAME, old_tls=old_tls)

        ctx.sni_callback = pick
        return ctx


def _issue(names, key, issuer_key, issuer_cert, not_before, not_after) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    )
    if issuer_cert is not None:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _server_context(old_tls: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if old_tls:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():  # deliberately old: the peer for tls.old-version
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


class _PolicyHandler(http.server.BaseHTTPRequestHandler):
    """Answers each request as configured for its Host header by ``TlsPeers.set_policy``."""

    server: _HttpsServer

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower().rstrip(".")
        policy = self.server.peers.policy_for(host)
        if policy is None or self.path != "/.well-known/mta-sts.txt":
            self._reply(404, b"not found\n", "text/plain", None)
            return
        body = policy.body.encode()
        if policy.size is not None and policy.size > len(body):
            body += b"#" * (policy.size - len(body))
        encoding = policy.content_encoding
        if encoding is not None:
            body = _encode(body, encoding)
            encoding = "deflate" if encoding == "deflate-raw" else encoding
        self._reply(
            policy.status, body, policy.content_type, policy.location, policy.content_length,
            encoding,
        )  # fmt: skip

    def _reply(
        self, status: int, body: bytes, ctype: str, location: str | None, length: bool = True,
        encoding: str | None = None,
    ) -> None:  # fmt: skip
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if location:
            self.send_header("Location", location)
        if length:  # without it the body ends when the connection closes (HTTP/1.0)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _encode(body: bytes, encoding: str) -> bytes:
    """The body compressed as ``encoding`` says (unknown labels: sent unchanged)."""
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "deflate-raw":
        co = zlib.compressobj(wbits=-15)
        return co.compress(body) + co.flush()
    return body


class _HttpsServer(http.server.ThreadingHTTPServer):
    """TLS per connection in the handler thread, so a stuck client never blocks accept()."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent fetches (1 s retry)

    def __init__(self, address: str, peers: TlsPeers) -> None:
        self.peers = peers
        super().__init__((address, 443), _PolicyHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            tls = self.peers.https_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early (the 64 KiB cap) are expected


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


class _SilentServer:
    """Accepts TCP connections and never says anything (an MX that hangs before its greeting)."""

    def __init__(self, address: str, port: int = 25) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.conns:
            conn.close()
        self.thread.join(5)


class _BrokenTlsServer(_SilentServer):
    """Offers STARTTLS, accepts it, then answers the ClientHello with garbage and hangs up."""

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    @staticmethod
    def _session(conn: socket.socket) -> None:
        conn.settimeout(10)
        with contextlib.suppress(OSError):
            conn.sendall(b"220 broken-tls.peer.test ESMTP\r\n")
            reader = conn.makefile("rb")
            while line := reader.readline():
                verb = line[:8].upper()
                if verb.startswith((b"EHLO", b"HELO")):
                    conn.sendall(b"250-broken-tls.peer.test\r\n250 STARTTLS\r\n")
                elif verb.startswith(b"STARTTLS"):
                    conn.sendall(b"220 go ahead\r\n")
                    conn.recv(4096)  # the ClientHello
                    conn.sendall(b"this is not TLS\r\n" * 4)
                    break
                elif verb.startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(b"250 OK\r\n")
            conn.close()


class TlsPeers:
    """The running peers; see the module docstring for the API."""

    def __init__(self, tmp: Path) -> None:
        self.certs = CertFactory(tmp)
        self.ca_file = str(self.certs.ca_file)
        self.root_der = self.certs.root_cert.public_bytes(serialization.Encoding.DER)
        self.intermediate_der = self.certs.inter_cert.public_bytes(serialization.Encoding.DER)
        spki = self.certs.good_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.good_spki_der = spki
        self.good_spki_sha256 = hashlib.sha256(spki).digest()
        self.block = ""
        self.https_address = ""
        self.smtp: dict[str, str] = {}
        self._policies: dict[str, _Policy] = {}
        self._lock = threading.Lock()
        self._stoppers: list[Any] = []
        self.https_context = self.certs.context("valid", DEFAULT_NAME, shared=False)

        def pick(sslobj: Any, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            name = (server_name or DEFAULT_NAME).lower()
            policy = self.policy_for(name)
            sslobj.context = self.certs.context(policy.cert if policy else "valid", name)

        self.https_context.sni_callback = pick

    # -- configuration -------------------------------------------------------------------
    def set_policy(
        self,
        host: str,
        status: int = 200,
        body: str = "",
        content_type: str = "text/plain",
        location: str | None = None,
        size: int | None = None,
        cert: str = "valid",
        content_length: bool = True,
        content_encoding: str | None = None,
    ) -> None:
        """Serve ``body`` (or a status/redirect) for ``https://host/.well-known/mta-sts.txt``.

        ``content_length=False`` leaves out the Content-Length header (the body then ends when
        the server closes the connection), to test limits enforced while reading.
        ``content_encoding`` ("gzip", "deflate", "deflate-raw" or any other label sent as is)
        compresses the body and says so, although the client asked for identity.
        """
        if cert not in CERT_KINDS:
            raise ValueError(f"unknown certificate kind {cert!r}; known: {CERT_KINDS}")
        with self._lock:
            self._policies[host.lower().rstrip(".")] = _Policy(
                status, body, content_type, location, size, cert, content_length,
                content_encoding,
            )  # fmt: skip

    def policy_for(self, host: str) -> _Policy | None:
        with self._lock:
            return self._policies.get(host)

    def chain_der(self, kind: str, host: str) -> list[bytes]:
        """DER chain (leaf first) a server of certificate ``kind`` presents for SNI ``host``."""
        return [c.public_bytes(serialization.Encoding.DER) for c in self.certs.chain(kind, host)]

    def good_chain_der(self, host: str) -> list[bytes]:
        return self.chain_der("valid", host)

    def good_cert_der(self, host: str) -> bytes:
        return self.good_chain_der(host)[0]

    # -- life cycle ----------------------------------------------------------------------
    def start(self, attempts: int = 12) -> None:
        last: BaseException | None = None
        for _ in range(attempts):
            block = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}"
            try:
                self._start_block(block)
                return
            except OSError as exc:
                last = exc
                self.stop()
                if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, None):
                    break
        raise RuntimeError(f"TLS peers could not start: {last!r}")

    def _start_block(self, block: str) -> None:
        def addr(name: str) -> str:
            return f"{block}.{_HOSTS[name]}"

        self.block = block
        self.https_address = addr("https")
        httpd = _HttpsServer(self.https_address, self)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        self._stoppers.append(lambda: (httpd.shutdown(), httpd.server_close()))
        for silent_port in (25, 443):
            silent = _SilentServer(addr("silent"), silent_port)
            self._stoppers.append(silent.stop)
        broken = _BrokenTlsServer(addr("broken-tls"))
        self._stoppers.append(broken.stop)
        smtp = {
            "silent": addr("silent"),
            "refused": addr("refused"),
            "broken-tls": addr("broken-tls"),
        }
        for name in SMTP_SERVERS:
            ctx = None
            if name == "old-tls":
                ctx = self.certs.sni_context("valid", old_tls=True)
            elif name == "good":
                ctx = self.certs.sni_context("valid")
            elif name != "no-starttls":
                ctx = self.certs.sni_context(name)
            controller = Controller(
                _Sink(),
                hostname=addr(name),
                port=25,
                tls_context=ctx,
                ready_timeout=10,
                server_hostname=f"{name}.peer.test",
            )
            try:
                controller.start()
            except Exception as exc:  # aiosmtpd wraps bind errors differently across versions
                cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
                if isinstance(cause, OSError):
                    raise cause from exc
                raise OSError(None, f"SMTP peer {name} on {addr(name)}:25: {exc!r}") from exc
            self._stoppers.append(controller.stop)
            smtp[name] = addr(name)
        self.smtp = smtp

    def stop(self) -> None:
        while self._stoppers:
            with contextlib.suppress(Exception):
                self._stoppers.pop()()


@pytest.fixture(scope="session")
def tls_peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsPeers]:
    """HTTPS policy host + STARTTLS servers on a random 127.A.B.0/24 block; fails if they can't."""
    peers = TlsPeers(tmp_path_factory.mktemp("tls-peers"))
    try:
        peers.start()
    except Exception as exc:
        pytest.fail(f"TLS peers could not start: {exc}")
    yield peers
    peers.stop()
