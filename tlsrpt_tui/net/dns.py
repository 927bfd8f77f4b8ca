"""Async DNS lookups through one (validating) resolver, with typed outcomes.

Why not ``dns.asyncresolver.Resolver.resolve``: it folds SERVFAIL, timeouts and refusals into
exceptions that are easy to confuse with "no such record", and it hides the AD flag. The live
checks must tell "missing" (an answer that says there is nothing) from "could not check", and
must trust the AD bit of a validating resolver for DANE. So each lookup sends one query with DO
set (EDNS0, 1232-byte payload) to the configured resolver, retries over TCP when the answer is
truncated, follows CNAMEs in the answer, and returns one of :class:`Answer`, :class:`Missing`
or :class:`Failed`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field, replace

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

EDNS_PAYLOAD = 1232


@dataclass(frozen=True, slots=True)
class Answer:
    """Records of the asked type at ``name`` (after CNAMEs); ``secure`` = AD bit set."""

    name: str
    rdtype: str
    records: list  # dnspython rdata objects
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
            system = dns.resolver.Resolver()
            if not system.nameservers:
                raise ValueError("no resolver configured and none in /etc/resolv.conf")
            self.host, self.port = str(system.nameservers[0]), 53
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
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
            return Failed(name, rdtype, f"bad name: {exc}")
        rtype = dns.rdatatype.from_text(rdtype)
        query = dns.message.make_query(
            qname, rtype, use_edns=0, want_dnssec=dnssec, payload=EDNS_PAYLOAD
        )
        query.flags |= dns.flags.AD | dns.flags.RD
        deadline = time.monotonic() + limit
        try:
            async with self._sem:
                self.queries += 1
                response = await self._exchange(query, deadline)
        except TimeoutError:
            return Failed(name, rdtype, "timeout")
        except dns.exception.Timeout:
            return Failed(name, rdtype, "timeout")
        except EOFError:  # the server closed the TCP connection without an answer
            return Failed(name, rdtype, "network: connection closed without an answer")
        except (OSError, dns.exception.DNSException) as exc:
            return Failed(name, rdtype, f"network: {exc}")
        return _interpret(name, rdtype, qname, rtype, response)

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

    async def _exchange(self, query: dns.message.Message, deadline: float) -> dns.message.Message:
        # One UDP attempt, re-sent once if half the budget passed without an answer.
        attempts = 2
        response = None
        for attempt in range(attempts):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            budget = left if attempt == attempts - 1 else left / 2
            try:
                response = await dns.asyncquery.udp(
                    query, self.host, timeout=budget, port=self.port, ignore_unexpected=True
                )
                break
            except dns.exception.Timeout:
                if attempt == attempts - 1:
                    raise
        assert response is not None
        if response.flags & dns.flags.TC:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            response = await dns.asyncquery.tcp(query, self.host, timeout=left, port=self.port)
        return response


def _interpret(
    name: str,
    rdtype: str,
    qname: dns.name.Name,
    rtype: dns.rdatatype.RdataType,
    response: dns.message.Message,
) -> Outcome:
    rcode = response.rcode()
    secure = bool(response.flags & dns.flags.AD)
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return Failed(name, rdtype, dns.rcode.to_text(rcode).lower())
    # Follow the CNAME chain the resolver put in the answer section.
    cnames: list[str] = []
    current = qname
    for _ in range(16):
        rrset = response.get_rrset(response.answer, current, dns.rdataclass.IN, rtype)
        if rrset is not None:
            signed = any(r.rdtype == dns.rdatatype.RRSIG for r in response.answer)
            return Answer(name, rdtype, list(rrset), secure, cnames, signed, ttl=int(rrset.ttl))
        alias = response.get_rrset(response.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if alias is None or rtype == dns.rdatatype.CNAME:
            break
        current = alias[0].target
        cnames.append(current.to_text(omit_final_dot=True))
    return Missing(name, rdtype, rcode == dns.rcode.NXDOMAIN, secure, cnames)
