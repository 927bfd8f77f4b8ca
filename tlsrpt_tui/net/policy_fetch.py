"""Fetch the MTA-STS policy file the way a sending MTA does (RFC 8461 §3.3).

``https://mta-sts.<domain>/.well-known/mta-sts.txt``: connect to addresses our own resolver
found (never the system resolver, so the check sees what the configured resolver sees), with
SNI and Host = ``mta-sts.<domain>``, verifying the certificate for that name against the system
roots plus the configured ``ca_file``; no redirects, at most 64 KiB, a timeout. We ask for
``Accept-Encoding: identity``; a body compressed anyway is inflated by :class:`BoundedDecoder`,
which never holds more than the 64 KiB limit of output.

SSRF guard: the domain owner controls where the policy host points, so loopback, private,
link-local and other non-public targets are refused unless ``allow_private_targets`` is set
(the config option for checking internal domains; the tests use it for their loopback peers).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import h11
from cryptography import x509

from tlsrpt_tui.core.checks.tls_verify import (
    cert_info,
    expiring_soon,
    finding,
    in_expiry_warning,
)
from tlsrpt_tui.core.findings import Finding
from tlsrpt_tui.net.targets import is_public
from tlsrpt_tui.net.trust import client_context

MAX_POLICY_BYTES = 64 * 1024
POLICY_PATH = "/.well-known/mta-sts.txt"

# OpenSSL X509_V_ERR_* codes, told apart so the user knows which certificate problem to fix.
_EXPIRED = {9: "is not yet valid", 10: "has expired"}
_UNTRUSTED = {
    2: "its issuer certificate is unknown",
    18: "it is self-signed",
    19: "its chain ends in an untrusted self-signed root",
    20: "its issuer is not trusted (unknown CA or incomplete chain)",
    21: "its issuer is not trusted (unknown CA or incomplete chain)",
}
_WRONG_NAME = 62


@dataclass(slots=True)
class PolicyFetch:
    """The outcome of one policy fetch: the body when it is usable, else findings say why."""

    url: str
    status: int | None = None
    content_type: str | None = None
    body: str | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    address: str | None = None  # the address that answered
    certificate: bytes | None = None  # the policy host's certificate (DER), when TLS succeeded


def policy_host(domain: str) -> str:
    return f"mta-sts.{domain.rstrip('.').lower()}"


def policy_url(domain: str) -> str:
    return f"https://{policy_host(domain)}{POLICY_PATH}"


async def fetch_policy(
    domain: str,
    addresses: Sequence[str],
    *,
    port: int = 443,
    ca_file: str | None = None,
    timeout: float = 10.0,
    allow_private_targets: bool = False,
    max_bytes: int = MAX_POLICY_BYTES,
    dns_error: str | None = None,
) -> PolicyFetch:
    """Fetch the policy of ``domain`` from ``addresses`` (resolved by the caller's resolver).

    Addresses are tried in order until one answers at the HTTP level; ``timeout`` bounds the
    whole fetch. ``dns_error`` is the resolver's reason when there are no addresses. Network
    problems never raise: they become findings. A bad ``ca_file`` raises TrustError.
    """
    host = policy_host(domain)
    url = policy_url(domain)
    result = PolicyFetch(url=url)
    if not addresses:
        reason = dns_error or f"{host} has no A/AAAA record"
        return _fail(result, "sts.policy.fetch-error", reason)
    targets = []
    refused = []
    for address in addresses:
        try:
            public = is_public(address)
        except ValueError:
            refused.append(f"{address} is not an IP address")
            continue
        if public or allow_private_targets:
            targets.append(address)
        else:
            refused.append(f"{address} is not a public address")
    if not targets:
        detail = "; ".join(refused) + " (set allow_private_targets to check internal hosts)"
        return _fail(result, "sts.policy.fetch-error", f"{host}: refused to connect: {detail}")

    verify = client_context(ca_file)
    errors: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            for address in targets:
                done = await _fetch_one(result, address, host, port, verify, max_bytes)
                if done:
                    return result
                errors.append(result.error or "failed")
    except TimeoutError:
        errors.append(f"no answer within {timeout:g} s")
    return _fail(result, "sts.policy.fetch-error", f"{host}: " + "; ".join(errors))


class BoundedDecoder:
    """Undo a Content-Encoding (identity, gzip or deflate) while never holding more than
    ``limit`` + 1 bytes of output: each inflate call may produce at most what is left of the
    limit, so a compression bomb costs a few kilobytes, not its expansion. We ask for
    ``Accept-Encoding: identity``; this is for servers that compress anyway."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or any(c not in _WBITS for c in codings):
            raise ValueError(
                f"the server applied Content-Encoding {', '.join(codings)} although we asked "
                "for identity; it cannot be decoded"
            )
        self.limit = limit
        self._inflater = _Inflater(codings[0]) if codings else None
        self.data = bytearray()

    @property
    def too_large(self) -> bool:
        return len(self.data) > self.limit

    def feed(self, chunk: bytes) -> None:
        """Decode one received chunk; stops producing once over the limit (see too_large)."""
        room = self.limit + 1 - len(self.data)
        if room <= 0:
            return
        if self._inflater is not None:
            chunk = self._inflater.inflate(chunk, room)
        self.data += chunk[:room]

    def finish(self) -> bytes:
        """The decoded body; ValueError when a compressed stream ended early."""
        if self._inflater is not None:
            self._inflater.check_complete()
        return bytes(self.data)


_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


class _Inflater:
    """One zlib stage with bounded output per call (gzip members may follow one another)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.wbits = _WBITS[coding]
        self._z = zlib.decompressobj(self.wbits)
        self._started = False

    def inflate(self, data: bytes, room: int) -> bytes:
        out = bytearray()
        pending = data
        while pending and len(out) < room:
            try:
                out += self._z.decompress(pending, room - len(out))
            except zlib.error as exc:
                if self.coding == "deflate" and not self._started and self.wbits > 0:
                    self.wbits = -15  # "deflate" sent raw, without the zlib header
                    self._z = zlib.decompressobj(self.wbits)
                    continue
                raise ValueError(f"the {self.coding}-encoded body is corrupt ({exc})") from None
            self._started = True
            pending = self._z.unconsumed_tail
            if self._z.eof:
                pending = self._z.unused_data
                if pending and self.wbits == 31:  # another gzip member follows
                    self._z = zlib.decompressobj(self.wbits)
                else:
                    break
        return bytes(out)

    def check_complete(self) -> None:
        if self._started and not self._z.eof:
            raise ValueError(f"the {self.coding}-encoded body ends before its end marker")


def _fail(result: PolicyFetch, code: str, detail: str) -> PolicyFetch:
    result.error = detail
    result.findings.append(finding(code, result.url, detail))
    return result


async def _fetch_one(
    result: PolicyFetch,
    address: str,
    host: str,
    port: int,
    verify: ssl.SSLContext,
    max_bytes: int,
) -> bool:
    """One address; True when the outcome is final (an HTTP answer or a certificate failure).

    One GET on a connection of its own (``Connection: close``): asyncio's TLS over a TCP
    connection, HTTP/1.1 framing by h11 (what httpx uses underneath, with httpx's header limit).
    httpx's client, connection pool and anyio streams around the same two cost more CPU than
    the handshake itself, and a check fetches one policy per domain. The caller's
    ``asyncio.timeout`` bounds the whole fetch."""
    writer: asyncio.StreamWriter | None = None
    try:
        try:
            reader, writer = await asyncio.open_connection(address, port)
        except OSError as exc:
            result.error = f"{address}: {_describe(exc)}"
            return False
        try:
            await writer.start_tls(verify, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            _fail(result, "sts.policy.webpki", f"{host} ({address}): {_cert_reason(exc, host)}")
            return True
        except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
            result.error = f"{address}: TLS handshake failed ({_handshake_reason(exc)})"
            return False
        return await _exchange(result, reader, writer, address, host, port, max_bytes)
    except (OSError, EOFError, h11.ProtocolError) as exc:
        result.error = f"{address}: {_describe(exc)}"
        return False
    finally:
        if writer is not None:
            writer.transport.abort()  # no TLS close_notify to wait for: the answer is read


async def _exchange(result: PolicyFetch, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, address: str, host: str, port: int,
                    max_bytes: int) -> bool:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)
    request = h11.Request(method="GET", target=POLICY_PATH, headers=[
        ("Host", host if port == 443 else f"{host}:{port}"),
        ("Accept", "*/*"),
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
        ("User-Agent", "tlsrpt-tui (MTA-STS policy check)"),
    ])  # fmt: skip
    writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
    decoder: BoundedDecoder | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(_READ_BYTES)
            if not data and conn.their_state is h11.SEND_RESPONSE:
                raise h11.RemoteProtocolError("Server disconnected without sending a response.")
            conn.receive_data(data)
            continue
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            headers = _Headers(event.headers)
            result.address = address
            _note_certificate(result, writer.get_extra_info("ssl_object"), host, address)
            result.status = event.status_code
            result.content_type = headers.get("content-type")
            if 300 <= event.status_code < 400:
                where = headers.get("location") or "no Location header"
                _fail(result, "sts.policy.redirect", f"HTTP {event.status_code} to {where}")
                return True
            if event.status_code != 200:
                reason = event.reason.decode("ascii", "replace")
                _fail(result, "sts.policy.fetch-error", f"HTTP {event.status_code} {reason}")
                return True
            declared = headers.get("content-length") or ""
            if declared.isdigit() and int(declared) > max_bytes:
                _fail(result, "sts.policy.too-large", f"Content-Length {declared} bytes")
                return True
            try:
                decoder = BoundedDecoder(headers.get("content-encoding") or "", max_bytes)
            except ValueError as exc:
                _fail(result, "sts.policy.fetch-error", str(exc))
                return True
        elif isinstance(event, h11.Data):
            assert decoder is not None
            # Raw bytes, decoded here, at most the limit: a 1 MB gzip bomb chunk is 200 MB
            # of zeros.
            try:
                decoder.feed(bytes(event.data))
            except ValueError as exc:
                _fail(result, "sts.policy.fetch-error", str(exc))
                return True
            if decoder.too_large:
                _fail(result, "sts.policy.too-large", f"more than {max_bytes} bytes")
                return True
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    assert decoder is not None
    try:
        data = decoder.finish()
    except ValueError as exc:
        _fail(result, "sts.policy.fetch-error", str(exc))
        return True
    mime = (result.content_type or "").split(";")[0].strip().lower()
    if mime != "text/plain":
        shown = result.content_type or "no Content-Type"
        result.findings.append(finding("sts.policy.content-type", result.url, f"served as {shown}"))
    result.body = bytes(data).decode("utf-8", errors="replace")
    return True


_MAX_HEADER_BYTES = 100 * 1024  # httpcore's limit for h11: "Receive buffer too long" past it
_READ_BYTES = 64 * 1024


class _Headers:
    """Response headers looked up as httpx does: case-insensitive, repeated ones joined."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, name: str) -> str | None:
        key = name.encode("ascii")
        values = [_header_text(v) for k, v in self._raw if k == key]  # h11: names lower case
        return ", ".join(values) if values else None


def _header_text(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")


def _handshake_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, ConnectionResetError | EOFError | BrokenPipeError):
        return "the server closed the connection"
    return str(exc) or type(exc).__name__


def _note_certificate(result: PolicyFetch, tls: ssl.SSLObject | None, host: str,
                      address: str) -> None:
    """Keep the certificate the policy host presented, and warn when it expires within 14 days
    (``sts.policy.expiring-soon``, as ``tls.expiring-soon`` for an MX): an expired one makes
    every sender's policy fetch fail (``sts-webpki-invalid``)."""
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    if not der:
        return
    result.certificate = der
    now = dt.datetime.now(dt.UTC)
    try:
        cert = x509.load_der_x509_certificate(der)
        if not in_expiry_warning(cert.not_valid_before_utc, cert.not_valid_after_utc, now):
            return  # the usual case: its names and key (cert_info) are not needed
        info = cert_info(cert)
    except ValueError:
        return
    soon = expiring_soon("sts.policy.expiring-soon", host, f"{host} at {address}", info, now)
    if soon is not None:
        result.findings.append(soon)


def _cert_reason(err: ssl.SSLCertVerificationError, host: str) -> str:
    code = getattr(err, "verify_code", None)
    if code in _EXPIRED:
        return f"the certificate {_EXPIRED[code]}"
    if code == _WRONG_NAME:
        return f"the certificate is not valid for {host} (wrong name)"
    if code in _UNTRUSTED:
        return f"the certificate is not trusted: {_UNTRUSTED[code]}"
    return f"the certificate failed validation: {getattr(err, 'verify_message', None) or err}"


def _describe(exc: BaseException) -> str:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ssl.SSLError):
            return f"TLS handshake failed ({current.reason or current})"
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
