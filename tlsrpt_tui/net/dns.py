"""Async DNS lookups through one (validating) resolver, with typed outcomes.

Why not ``dns.asyncresolver.Resolver.resolve``: it folds SERVFAIL, timeouts and refusals into
exceptions that are easy to confuse with "no such record", and it hides the AD flag. The live
checks must tell "missing" (an answer that says there is nothing) from "could not check", and
must trust the AD bit of a validating resolver for DANE. So each lookup sends one query with DO
set (EDNS0, 1232-byte payload) to the configured resolver, retries over TCP when the answer is
truncated, follows CNAMEs in the answer, and returns one of :class:`Answer`, :class:`Missing`
or :class:`Failed`.

The messages are written and read by ``core.dns_wire``, and each query goes out on a plain
non-blocking UDP socket of its own (``loop.sock_recv``): dnspython's ``Message`` objects and its
asyncio transport per query were most of a 1,000-domain ``check``'s CPU (bench_checks.py).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass, field, replace

import dns.rcode
import dns.rdatatype

from tlsrpt_tui.core import dns_wire as wire

EDNS_PAYLOAD = 1232


@dataclass(frozen=True, slots=True)
class Answer:
    """Records of the asked type at ``name`` (after CNAMEs); ``secure`` = AD bit set."""

    name: str
    rdtype: str
    records: list  # core.dns_wire records (Address, Txt, Mx, Tlsa, Cname, Other)
    secure: bool
    cnames: list[str] = field(default_factory=list)  # the alias chain followed, if any
    signed: bool = False  # RRSIGs came with it (the zone is signed, whatever the AD bit says)
    ttl: int | None = None  # of the answer's RRset (for callers that cache, like DKIM keys)

    @property
    def texts(self) -> list[str]:
        """TXT records with their character-strings joined without separators (RFC 7208 §3.3)."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.records]


@dataclass(frozen=True, slots=True)
class Missing:
    """NXDOMAIN or NODATA: the resolver answered that there is no such record."""

    name: str
    rdtype: str
    nxdomain: bool
    secure: bool  # the denial was DNSSEC-validated (AD bit)
    cnames: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Failed:
    """The lookup did not produce an answer: we could not check."""

    name: str
    rdtype: str
    reason: str  # timeout | servfail | refused | formerr | network: … | …

    @property
    def servfail(self) -> bool:
        return self.reason == "servfail"


Outcome = Answer | Missing | Failed


def parse_server(spec: str) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``[IPv6]:PORT`` → (host, port); ValueError names the bad input."""
    spec = spec.strip()
    if not spec:
        raise ValueError("resolver: empty address")
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port_s = rest[1:] if rest.startswith(":") else ""
    elif spec.count(":") == 1:
        host, port_s = spec.split(":")
    else:
        host, port_s = spec, ""
    try:
        port = int(port_s) if port_s else 53
    except ValueError:
        raise ValueError(f"resolver {spec!r}: port is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"resolver {spec!r}: port out of range")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"resolver {spec!r}: give an IP address, not a host name") from None
    return host, port


RESOLV_CONF = "/etc/resolv.conf"


def system_nameserver(path: str | None = None) -> str | None:
    """The first ``nameserver`` of the system's resolv.conf, None when there is none.

    Why not ``dns.resolver.Resolver()``: importing dnspython's stub resolver pulls in its
    DNS-over-HTTPS stack (~0.35 s of CPU), paid by every ``import`` and ``check`` that only
    needs this one address. Its reading of the file is followed here: comments start with
    ``#`` or ``;``, and an address that is not an IP address is skipped."""
    try:
        with open(path or RESOLV_CONF, encoding="utf-8", errors="replace") as conf:
            lines = conf.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        address = fields[1]
        try:
            ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            continue
        return address
    return None


class Resolver:
    """Sends DO-flagged queries to one resolver; bounded concurrency; per-lookup timeout.

    With ``cache=True`` (one check run: ``service.checks``) each name and type is asked once
    per Resolver: a lookup already answered, or still in flight, is shared by every caller
    (1,000 domains hosted on one provider's MX ask its A/AAAA/TLSA once, not 1,000 times). A
    Failed outcome is shared while in flight but not kept, so a later caller asks again. The
    run is short, so TTLs are not consulted; a long-lived process makes a Resolver per run.
    """

    def __init__(
        self,
        server: str | None = None,
        *,
        timeout: float = 5.0,
        max_inflight: int = 256,
        cache: bool = False,
    ) -> None:
        if server:
            self.host, self.port = parse_server(server)
        else:
            found = system_nameserver()
            if found is None:
                raise ValueError(f"no resolver configured and none in {RESOLV_CONF}")
            self.host, self.port = found, 53
        self.timeout = timeout
        self._sem = asyncio.Semaphore(max_inflight)
        self._cache: dict[tuple[str, str, bool], asyncio.Task[Outcome]] | None = (
            {} if cache else None)
        #: queries sent to the server (cache hits not counted)
        self.queries = 0

    async def lookup(self, name: str, rdtype: str, *, timeout: float | None = None,
                     dnssec: bool = True) -> Outcome:
        """One lookup; never raises for DNS or network trouble (returns :class:`Failed`).

        ``dnssec=False`` leaves the DO bit off: the answer comes without its RRSIGs (half the
        bytes, and parsing them is most of a lookup's CPU) for records whose DNSSEC state no
        check uses (TLS-RPT and MTA-STS TXT, the policy host's addresses). The AD bit still
        comes back (it is asked for with the AD flag, RFC 6840 §5.7); ``Answer.signed`` does
        not."""
        if self._cache is None:
            return await self._lookup(name, rdtype, timeout, dnssec)
        key = (name.rstrip(".").lower(), rdtype.upper(), dnssec)
        task = self._cache.get(key)
        if task is None:
            task = asyncio.ensure_future(self._lookup(name, rdtype, timeout, dnssec))
            self._cache[key] = task
            task.add_done_callback(lambda t, key=key: self._forget_failure(key, t))
        # shielded: a caller cancelled (its check timed out) does not cancel the others' answer
        outcome = await asyncio.shield(task)
        if outcome.name != name:  # the same record asked with another spelling
            outcome = replace(outcome, name=name)
        return outcome

    def _forget_failure(self, key: tuple[str, str, bool], task: asyncio.Task[Outcome]) -> None:
        if self._cache is None or self._cache.get(key) is not task:
            return
        if task.cancelled() or task.exception() is not None or isinstance(task.result(), Failed):
            del self._cache[key]

    async def _lookup(self, name: str, rdtype: str, timeout: float | None,
                      dnssec: bool = True) -> Outcome:
        limit = self.timeout if timeout is None else timeout
        qname = wire.encode_name(name)
        if qname is None:  # escapes, IDNA or a bad name: dnspython's rules, and its reasons
            import dns.exception
            import dns.name

            try:
                qname = dns.name.from_text(name).to_wire()
            except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
                return Failed(name, rdtype, f"bad name: {exc}")
        assert qname is not None
        rtype = _rdtype(rdtype)
        qid = secrets.randbits(16)
        query = wire.build_query(qid, qname, rtype, dnssec=dnssec, payload=EDNS_PAYLOAD)
        deadline = time.monotonic() + limit
        try:
            async with self._sem:
                self.queries += 1
                reply = await self._exchange(query, qid, qname, rtype, deadline)
        except TimeoutError:
            return Failed(name, rdtype, "timeout")
        except EOFError:  # the server closed the TCP connection without an answer
            return Failed(name, rdtype, "network: connection closed without an answer")
        except wire.WireError as exc:
            return Failed(name, rdtype, f"network: malformed answer: {exc}")
        except OSError as exc:
            return Failed(name, rdtype, f"network: {exc}")
        return _interpret(name, rdtype, qname, rtype, reply)

    async def validates(self, zone: str) -> bool | None:
        """Does this resolver validate DNSSEC? Asked of a signed zone (a TLD): True when its
        SOA comes back with the AD bit, False when it comes with RRSIGs but without AD (the
        resolver passes signatures on without checking them) or when the zone publishes a
        DNSKEY that comes back without AD (a resolver that strips signatures), None when the
        zone is not signed or the lookups failed (no evidence either way)."""
        outcome = await self.lookup(zone, "SOA")
        if isinstance(outcome, Answer) and (outcome.secure or outcome.signed):
            return outcome.secure
        # No signatures came: the zone is unsigned, or the resolver strips them. A published
        # DNSKEY tells which; without the AD bit on it, the resolver does not validate.
        keys = await self.lookup(zone, "DNSKEY")
        if not isinstance(keys, Answer):
            return None
        return keys.secure

    @property
    def address(self) -> str:
        """HOST:PORT of the resolver, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def _exchange(self, query: bytes, qid: int, qname: bytes, rtype: int,
                        deadline: float) -> wire.Reply:
        # One UDP attempt, re-sent once if half the budget passed without an answer.
        attempts = 2
        reply = None
        for attempt in range(attempts):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            budget = left if attempt == attempts - 1 else left / 2
            try:
                async with asyncio.timeout(budget):
                    reply = await self._udp(query, qid, qname, rtype)
                break
            except TimeoutError:
                if attempt == attempts - 1:
                    raise
        assert reply is not None
        if reply.truncated:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                reply = await self._tcp(query, qid, qname, rtype)
        return reply

    async def _udp(self, query: bytes, qid: int, qname: bytes, rtype: int) -> wire.Reply:
        """One datagram out on a socket of its own (a random source port per query, as
        dnspython did), connected so the kernel drops datagrams from other sources; a datagram
        that is not the answer to this query (another ID or question, garbage) is ignored."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect((self.host, self.port))
            await loop.sock_sendall(sock, query)
            while True:
                data = await loop.sock_recv(sock, 65535)
                reply = wire.parse_reply(data, qid, qname, rtype)
                if reply is not None:
                    return reply

    async def _tcp(self, query: bytes, qid: int, qname: bytes, rtype: int) -> wire.Reply:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(len(query).to_bytes(2, "big") + query)
            await writer.drain()
            size = int.from_bytes(await reader.readexactly(2), "big")
            data = await reader.readexactly(size)
        finally:
            writer.close()
        reply = wire.parse_reply(data, qid, qname, rtype)
        if reply is None:
            raise wire.WireError("the TCP answer is not for the query sent")
        return reply


@functools.lru_cache(maxsize=64)
def _rdtype(text: str) -> int:
    return int(dns.rdatatype.from_text(text))


def _interpret(name: str, rdtype: str, qname: bytes, rtype: int, reply: wire.Reply) -> Outcome:
    rcode = reply.rcode
    secure = reply.secure
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return Failed(name, rdtype, dns.rcode.to_text(rcode).lower())
    # Follow the CNAME chain the resolver put in the answer section.
    cnames: list[str] = []
    current = wire.name_text(qname).lower()
    for _ in range(16):
        rrset = reply.rrset(current, rtype)
        if rrset is not None:
            return Answer(name, rdtype, rrset.records, secure, cnames, reply.signed,
                          ttl=rrset.ttl)
        alias = reply.rrset(current, wire.TYPE_CNAME)
        if alias is None or rtype == wire.TYPE_CNAME:
            break
        target = alias.records[0].target
        current = target.lower()
        cnames.append(target)
    return Missing(name, rdtype, rcode == dns.rcode.NXDOMAIN, secure, cnames)
