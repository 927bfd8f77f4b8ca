"""The HTTP side of the HTTPS report receiver (RFC 8460 §3, §5.4), on aiohttp.web.

Why a library and no hand-written HTTP: request parsing, keep-alive, chunked bodies and TLS are
where hand-written servers break; aiohttp is a well-kept async server. What this module adds is
what RFC 8460 and an Internet-facing endpoint need on top:

- only ``POST`` of ``application/tlsrpt+gzip`` or ``application/tlsrpt+json`` is accepted
  (405 / 415 otherwise), on one path (404 elsewhere);
- the body is read as a stream and both sizes are checked WHILE reading: the bytes received
  (``max_body_bytes``) and, for gzip, the bytes it inflates to (``max_inflated_bytes``): a
  300 MB gzip bomb is refused with 413 after inflating the limit, never held in memory;
- a per-client token bucket (429 with ``Retry-After``); the client is the peer address, or the
  ``X-Forwarded-For`` entry a configured proxy vouches for (never a header from anyone else);
- every reply is one line of text: no stack trace or server detail ever reaches a client.

What happens to an accepted body (parse, store, status) is the caller's ``accept`` callback
(service/receiver.py), so this module knows nothing about the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

GZIP_TYPE = "application/tlsrpt+gzip"
JSON_TYPE = "application/tlsrpt+json"
CHUNK = 64 * 1024
#: Inflate at most this much per zlib call, so one small input chunk never becomes a huge buffer.
INFLATE_STEP = 256 * 1024
MAX_GZIP_MEMBERS = 100


@dataclass(frozen=True, slots=True)
class Reply:
    """What the client is told: a status and one line of text."""

    status: int
    text: str
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """A body received in full and within the limits, with who sent it."""

    client: str  # the client's IP address (after trusted proxies)
    content_type: str
    data: bytes  # as received (still gzip for application/tlsrpt+gzip)


Accept = Callable[[Upload], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body_bytes: int = 10 * 1024 * 1024
    max_inflated_bytes: int = 20 * 1024 * 1024
    #: Seconds to receive a whole body (a client trickling bytes cannot hold a slot forever).
    body_timeout: float = 60.0
    #: Requests per minute per client (a token bucket of that size); 0: no limit.
    rate_per_minute: int = 60
    #: Bodies read at the same time; further uploads wait (their bytes stay in the kernel).
    max_concurrent: int = 32


class BodyError(Exception):
    """The body cannot be accepted: carries the reply (400 / 408 / 413)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


# --------------------------------------------------------------------------------------------
# Who is asking


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(specs: Sequence[str]) -> tuple[Network, ...]:
    """Trusted proxies (``10.0.0.1`` or ``10.0.0.0/8``) as networks; ValueError names a bad one."""
    out = []
    for spec in specs:
        try:
            out.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {spec!r} is not an IP address or network") from None
    return tuple(out)


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    proxies: Sequence[Network],
) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy.

    Behind trusted proxies the ``X-Forwarded-For`` list is read from the right (each proxy
    appends the address it saw) and the first address that is not itself a trusted proxy is
    the client. Anything a client wrote further left is ignored, so it cannot choose its own
    rate-limit bucket or source name.
    """
    addr = _ip(peer)
    if addr is None:
        return peer or "unknown"
    if not forwarded_for or not _trusted(addr, proxies):
        return str(addr)
    for part in reversed(forwarded_for.split(",")):
        hop = _ip(part.strip())
        if hop is None:
            break  # garbage: stop trusting the chain here
        if not _trusted(hop, proxies):
            return str(hop)
        addr = hop
    return str(addr)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
             proxies: Sequence[Network]) -> bool:
    return any(addr.version == net.version and addr in net for net in proxies)


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests, refilled continuously.

    At most ``max_clients`` buckets are kept (least recently seen dropped first), so a flood
    from many addresses costs bounded memory.
    """

    def __init__(self, per_minute: int, *, max_clients: int = 10_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, client: str, now: float | None = None) -> int | None:
        """None when allowed (a token taken), else the seconds to wait for the next token."""
        if self.capacity <= 0:
            return None
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if allowed:
            return None
        return max(1, int((1.0 - tokens) / self.rate + 0.999))


# --------------------------------------------------------------------------------------------
# The body


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n} bytes"


class _GzipMeter:
    """Inflates a gzip stream chunk by chunk only to count (and check) its size; keeps nothing.

    Only the size is this meter's business: data that is not gzip, or is truncated, is left
    to the parser, which rejects it with its reason and stores it like ``import`` does.
    Concatenated members are followed (as gzip(1) writes them) up to ``MAX_GZIP_MEMBERS``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inflated = 0
        self.members = 1
        self.broken = False
        self._z = zlib.decompressobj(wbits=31)

    def feed(self, data: bytes) -> None:
        while data and not self.broken:
            if self._z.eof:
                if self.members >= MAX_GZIP_MEMBERS:
                    self.broken = True  # the parser refuses this many members
                    return
                self.members += 1
                self._z = zlib.decompressobj(wbits=31)
            try:
                out = self._z.decompress(data, INFLATE_STEP)
            except zlib.error:
                self.broken = True
                return
            self.inflated += len(out)
            if self.inflated > self.limit:
                raise BodyError(Reply(413, "gzip body inflates to more than "
                                           f"{_size(self.limit)}"))
            data = self._z.unused_data if self._z.eof else self._z.unconsumed_tail


async def read_body(request: web.BaseRequest, *, gzip: bool, limits: HttpLimits) -> bytes:
    """The request body, checked against both size limits while it streams in."""
    declared = request.content_length
    if declared is not None and declared > limits.max_body_bytes:
        raise BodyError(Reply(413, f"body of {declared} bytes is over the "
                                   f"{_size(limits.max_body_bytes)} limit"))
    meter = _GzipMeter(limits.max_inflated_bytes) if gzip else None
    chunks: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(limits.body_timeout):
            async for chunk in request.content.iter_chunked(CHUNK):
                total += len(chunk)
                if total > limits.max_body_bytes:
                    raise BodyError(Reply(413, "body is over the "
                                               f"{_size(limits.max_body_bytes)} limit"))
                if meter is not None:
                    meter.feed(chunk)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyError(Reply(408, f"body not received within {limits.body_timeout:g} s")) from None
    except BodyError:
        raise
    except Exception:  # the connection broke mid-body (aiohttp's payload errors, resets)
        raise BodyError(Reply(400, "body ended early (connection lost)")) from None
    if not request.content.is_eof():
        raise BodyError(Reply(400, "body ended early (connection closed)"))
    if total == 0:
        raise BodyError(Reply(400, "body is empty"))
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------
# The application


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


@dataclass
class ReceiverApp:
    """The request handling: method, path, type, rate limit, body limits, then ``accept``."""

    accept: Accept
    path: str = "/tlsrpt"
    limits: HttpLimits = HttpLimits()
    trusted_proxies: tuple[Network, ...] = ()
    on_reply: Callable[[str, Reply], None] | None = None

    def __post_init__(self) -> None:
        self.rate = RateLimiter(self.limits.rate_per_minute)
        self._slots = asyncio.Semaphore(self.limits.max_concurrent)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        client = client_address(
            request.remote, request.headers.get("X-Forwarded-For"), self.trusted_proxies
        )
        try:
            reply = await self._reply(request, client)
        except Exception:  # a bug must cost one request, never leak a trace to the client
            log.exception("receiver: internal error handling a request from %s", client)
            reply = Reply(500, "internal error; the report was not stored, retry later")
        self.replied(client, reply)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if reply.status == 405:
            headers["Allow"] = "POST"
        if reply.retry_after is not None:
            headers["Retry-After"] = str(reply.retry_after)
        return web.Response(status=reply.status, text=reply.text + "\n", headers=headers)

    def replied(self, client: str, reply: Reply) -> None:
        """Tell ``on_reply`` (the log line of ``receive`` and ``watch``); never fails a request."""
        if self.on_reply is not None:
            with contextlib.suppress(Exception):
                self.on_reply(client, reply)

    async def _reply(self, request: web.BaseRequest, client: str) -> Reply:
        if request.path != self.path:
            return Reply(404, f"no report endpoint here; POST reports to {self.path}")
        if request.method != "POST":
            return Reply(405, "only POST is accepted (RFC 8460 §5.4)")
        ctype = media_type(request.headers.get("Content-Type"))
        encoding = media_type(request.headers.get("Content-Encoding")) or "identity"
        if ctype not in (GZIP_TYPE, JSON_TYPE) or encoding not in ("identity", "gzip"):
            return Reply(415, f"send {GZIP_TYPE} or {JSON_TYPE} (RFC 8460 §5.4)")
        wait = self.rate.check(client)
        if wait is not None:
            return Reply(429, f"too many reports from {client}; retry in {wait} s", wait)
        gzip = ctype == GZIP_TYPE or encoding == "gzip"
        async with self._slots:
            try:
                data = await read_body(request, gzip=gzip, limits=self.limits)
            except BodyError as exc:
                return exc.reply
            return await self.accept(Upload(client, ctype, data))

    def application(self) -> web.Application:
        app = web.Application(handler_args={"auto_decompress": False})
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


class _ProtocolLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server log, for what goes wrong before a request reaches ``handle``.

    Why: an Internet-facing endpoint gets malformed requests (a broken chunk size, a header
    over 8 KiB, a bad Content-Length), which aiohttp answers 400 itself (no trace reaches the
    client) but logs with a full traceback each. Here such a request is one line through
    ``on_reply``, like every other answer; anything else keeps aiohttp's traceback (a bug)."""

    def __init__(self, app: ReceiverApp) -> None:
        super().__init__(log, {})
        self.app = app

    def exception(self, msg: object, *args: object, exc_info: object = True,
                  **kwargs: object) -> None:
        if isinstance(exc_info, HttpProcessingError):
            lines = str(exc_info.message or type(exc_info).__name__).strip().splitlines()
            client = str(args[0]) if args and args[0] else "unknown"
            self.app.replied(client, Reply(exc_info.code or 400,
                                           f"bad HTTP request: {lines[0] if lines else ''}"))
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)  # type: ignore[arg-type]


@dataclass
class Listening:
    """A started server: where it listens, and how to stop it."""

    runner: web.AppRunner
    addresses: list[tuple[str, int]]
    tls: bool

    @property
    def urls(self) -> list[str]:
        scheme = "https" if self.tls else "http"
        return [f"{scheme}://{_host(h)}:{p}" for h, p in self.addresses]

    async def close(self) -> None:
        await self.runner.cleanup()


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def start_server(
    handler: ReceiverApp, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> Listening:
    """Bind and serve in the background; port 0 picks a free port (see ``addresses``)."""
    runner = web.AppRunner(
        handler.application(),
        handle_signals=False,
        access_log=None,
        logger=_ProtocolLog(handler),
        auto_decompress=False,
        lingering_time=2.0,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses: list[tuple[str, int]] = []
    server = site._server  # the asyncio Server: the only place that knows the bound port
    for sock in getattr(server, "sockets", None) or ():
        name = sock.getsockname()
        addresses.append((str(name[0]), int(name[1])))
    return Listening(runner, addresses, ssl_context is not None)
