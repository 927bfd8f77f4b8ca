"""Live checks of a domain: DNS records, MTA-STS policy, MX, TLSA and STARTTLS, concurrently.

Why the shape: a mail admin wants one answer per domain quickly, and a dead host must not make
everything wait. So every independent step starts at once (TLS-RPT TXT, MTA-STS TXT + the policy
host's addresses, MX → per host A/AAAA/TLSA → per address probe), each under its own timeout,
all in one TaskGroup (cancelling the check cancels every step), with shared semaphores bounding
DNS queries, policy fetches and probes across domains. A domain with a dead MX and a dead policy
host costs about one timeout, not the sum. Every step turns its own trouble into findings, so one
failing step never hides the results of the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tlsrpt_tui.core.checks import sts_policy
from tlsrpt_tui.core.checks.catalogue import finding, worst
from tlsrpt_tui.core.checks.dane import DaneChain, TlsaRecord, dane_applies, tlsa_findings
from tlsrpt_tui.core.checks.mx import MxHost, is_null_mx, mx_findings
from tlsrpt_tui.core.checks.sts_record import sts_record_findings
from tlsrpt_tui.core.checks.tlsrpt_record import tlsrpt_findings
from tlsrpt_tui.core.domain_name import normalize_domain
from tlsrpt_tui.core.findings import DomainStatus, Finding, Severity
from tlsrpt_tui.net.dns import Answer, Failed, Missing, Outcome, Resolver
from tlsrpt_tui.net.policy_fetch import fetch_policy
from tlsrpt_tui.service.config import CheckSettings

#: Extra time a step gets over its own timeout before the safety net cancels it.
_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """How to check: resolver, trust, timeouts, whether to probe port 25, ports to use."""

    resolver: str | None = None  # "HOST[:PORT]"; None = the system's first nameserver
    ca_file: str | None = None
    timeout: float = 10.0
    probe: bool = True
    smtp_port: int = 25
    https_port: int = 443
    allow_private_targets: bool = False  # let the policy fetch and probe reach non-public ones
    #: domains checked at once: each spends most of its time waiting for DNS answers and the
    #: policy host, so more overlap pays (bench_checks: 1,000 domains behind a 25 ms resolver)
    concurrency: int = 64
    max_dns: int = 128  # DNS queries in flight
    max_connections: int = 64  # policy fetches + probes in flight

    @classmethod
    def from_settings(cls, settings: CheckSettings, **overrides: Any) -> CheckOptions:
        values = {
            "resolver": settings.resolver,
            "ca_file": settings.ca_file,
            "timeout": float(settings.timeout),
            "probe": settings.probe,
            "smtp_port": settings.smtp_port,
            "https_port": settings.https_port,
            "allow_private_targets": settings.allow_private_targets,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class _Context:
    """What a batch of checks shares: the resolver and the connection semaphore."""

    def __init__(self, options: CheckOptions) -> None:
        self.options = options
        # one cache per run: a name asked by many domains (a shared MX, its TLSA) goes out once
        self.resolver = Resolver(
            options.resolver, timeout=options.timeout, max_inflight=options.max_dns, cache=True
        )
        self.connections = asyncio.Semaphore(options.max_connections)
        self._validation: dict[str, asyncio.Future[bool | None]] = {}

    def validation(self, domain: str) -> asyncio.Future[bool | None]:
        """Whether the resolver validates DNSSEC, probed once per run and top-level domain.

        A DANE verdict is only as good as the resolver's AD bit: a resolver that passes RRSIGs
        on without validating would make every signed TLSA look "insecure". The TLD is asked
        because it is signed and anchored for every validating resolver (``test.`` in the
        tests' own hierarchy)."""
        tld = domain.rstrip(".").rsplit(".", 1)[-1] + "."
        probe = self._validation.get(tld)
        if probe is None:
            probe = asyncio.ensure_future(self.resolver.validates(tld))
            self._validation[tld] = probe
        return probe


async def check_domain(
    domain: str,
    options: CheckOptions | None = None,
    *,
    previous: DomainStatus | dict[str, Any] | None = None,
) -> DomainStatus:
    """Check one domain. ``previous`` (the last stored result) enables sts.policy.id-unchanged.

    Checked on its own, the domain's MX are all the port-25 evidence there is: if none of
    them accepts a TCP connection, the result says tls.probe-blocked (see check_domains)."""
    options = options or CheckOptions()
    status = await _check_one(_Context(options), domain, previous)
    judge_port25([status])
    return status


async def _check_one(
    ctx: _Context, domain: str, previous: DomainStatus | dict[str, Any] | None
) -> DomainStatus:
    domain = normalize_domain(domain)
    checked_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    records: dict[str, Any] = {}
    validation = ctx.validation(domain)
    async with asyncio.TaskGroup() as tg:
        tlsrpt_task = tg.create_task(_step(_tlsrpt(ctx, domain, records), "tlsrpt", domain, ctx))
        sts_task = tg.create_task(_step(_sts(ctx, domain, records), "sts", domain, ctx))
        mx_task = tg.create_task(_step(_mx(ctx, domain, records), "mx", domain, ctx))
    tlsrpt_out, tlsrpt_ok = tlsrpt_task.result()
    sts_out, policy = sts_task.result()
    mx_out, mx_hosts = mx_task.result()
    findings = [*tlsrpt_out, *sts_out]
    if policy is not None:
        if records.get("mx") is not None:
            findings += sts_policy.policy_coverage_findings(policy, mx_hosts, tlsrpt_ok)
        else:  # the MX lookup failed: which MX the policy covers cannot be judged
            findings += sts_policy.mode_findings(policy, tlsrpt_ok)
        findings += _id_unchanged(domain, records, previous)
    findings += mx_out
    if records.get("nxdomain"):
        # One finding says it (a typo in the config is the usual cause), instead of "no MX,
        # no TLS-RPT, no MTA-STS…" that all follow from it.
        findings = [f for f in mx_out if f.code == "dns.nxdomain"]
    if await validation is False:
        tld = domain.rsplit(".", 1)[-1]
        detail = f"the signed SOA of {tld}. came back without the AD bit"
        findings.insert(0, finding("dns.resolver-not-validating", ctx.resolver.address, detail))
    return DomainStatus(domain, checked_at, worst(findings), records, findings)


async def _step(coro: Any, name: str, domain: str, ctx: _Context) -> Any:
    """Run one branch; an unexpected exception becomes a finding instead of killing the check."""
    # Safety net only: every lookup, fetch and probe has its own timeout; the longest chain is
    # DNS, then TLSA, then a probe that may use three timeouts (connect, EHLO, STARTTLS).
    try:
        async with asyncio.timeout(ctx.options.timeout * 5 + _GRACE):
            return await coro
    except Exception as exc:  # a bug or an unforeseen error: report it, keep the others
        code = {"tlsrpt": "tlsrpt.lookup-failed", "sts": "sts.record.lookup-failed"}.get(
            name, "mx.lookup-failed"
        )
        f = finding(code, domain, f"internal error: {type(exc).__name__}: {exc}")
        empty: Any = {"tlsrpt": False, "sts": None, "mx": []}[name]
        return [f], empty


# -- TLS-RPT ----------------------------------------------------------------------------
async def _tlsrpt(ctx: _Context, domain: str, records: dict[str, Any]) -> tuple[list, bool]:
    name = f"_smtp._tls.{domain}"
    outcome = await ctx.resolver.lookup(name, "TXT", dnssec=False)  # its DNSSEC state: unused
    if isinstance(outcome, Failed):
        records["tlsrpt"] = None
        return [finding("tlsrpt.lookup-failed", name, outcome.reason)], False
    texts = outcome.texts if isinstance(outcome, Answer) else []
    records["tlsrpt"] = texts
    out, record = tlsrpt_findings(domain, texts)
    return out, record is not None


# -- MTA-STS record + policy ------------------------------------------------------------
async def _sts(ctx: _Context, domain: str, records: dict[str, Any]) -> tuple[list, Any]:
    name = f"_mta-sts.{domain}"
    policy_host = f"mta-sts.{domain}"
    # The policy host's addresses are looked up at the same time as the TXT record: one round
    # trip saved per domain; they are only used when the record says there is a policy.
    addr_task = asyncio.ensure_future(_addresses(ctx, policy_host))
    try:
        outcome = await ctx.resolver.lookup(name, "TXT", dnssec=False)
        if isinstance(outcome, Failed):
            records["sts"] = None
            return [finding("sts.record.lookup-failed", name, outcome.reason)], None
        texts = outcome.texts if isinstance(outcome, Answer) else []
        records["sts"] = texts
        if outcome.cnames:
            records["sts_cname"] = outcome.cnames
        out, record = sts_record_findings(domain, texts)
        if record is None:
            return out, None
        records["sts_id"] = record.id
        addresses, failure = await addr_task
    finally:
        addr_task.cancel()
    records["policy_addresses"] = addresses
    async with ctx.connections:
        fetched = await fetch_policy(
            domain,
            addresses,
            port=ctx.options.https_port,
            ca_file=ctx.options.ca_file,
            timeout=ctx.options.timeout,
            allow_private_targets=ctx.options.allow_private_targets,
            dns_error=f"{policy_host}: {failure}" if failure else None,
        )
    url = fetched.url
    records["policy_url"] = url
    records["policy"] = fetched.body
    records["policy_status"] = fetched.status
    records["policy_content_type"] = fetched.content_type
    out += list(fetched.findings)
    if fetched.body is None or any(f.severity is Severity.ERROR for f in fetched.findings):
        return out, None
    policy_out, policy = sts_policy.check_policy(fetched.body, url)
    out += policy_out
    return out, policy


def _id_unchanged(
    domain: str, records: dict[str, Any], previous: DomainStatus | dict[str, Any] | None
) -> list[Finding]:
    """sts.policy.id-unchanged: the policy body changed but the TXT id stayed the same."""
    if previous is None:
        return []
    prev = previous.records if isinstance(previous, DomainStatus) else previous.get("records", {})
    f = sts_policy.id_unchanged_finding(
        prev.get("sts_id"),
        prev.get("policy"),
        records.get("sts_id"),
        records.get("policy"),
        subject=f"_mta-sts.{domain}",
    )
    return [f] if f is not None else []


# -- MX, addresses, TLSA, probes --------------------------------------------------------
async def _addresses(ctx: _Context, host: str) -> tuple[list[str], str | None]:
    """A and AAAA of ``host`` (the policy host: HTTPS, its DNSSEC state unused): (addresses,
    failure reason or None)."""
    a, aaaa = await asyncio.gather(ctx.resolver.lookup(host, "A", dnssec=False),
                                   ctx.resolver.lookup(host, "AAAA", dnssec=False))
    addresses = [r.address for o in (a, aaaa) if isinstance(o, Answer) for r in o.records]
    failures = [o for o in (a, aaaa) if isinstance(o, Failed)]
    if failures and not addresses:
        return [], f"A/AAAA lookup failed: {failures[0].reason}"
    return addresses, None


async def _mx(ctx: _Context, domain: str, records: dict[str, Any]) -> tuple[list, list[str]]:
    outcome = await ctx.resolver.lookup(domain, "MX")
    if isinstance(outcome, Failed):
        records["mx"] = None
        return [finding("mx.lookup-failed", domain, f"MX: {outcome.reason}")], []
    if isinstance(outcome, Missing) and outcome.nxdomain and not outcome.cnames:
        records["mx"] = None
        records["nxdomain"] = True  # the domain itself does not exist: see _check_one
        return [finding("dns.nxdomain", domain, f"{ctx.resolver.address} answered NXDOMAIN")], []
    mx: list[tuple[int, str]] = []
    if isinstance(outcome, Answer):
        mx = sorted(
            (r.preference, r.exchange.lower()) for r in outcome.records
        )
    records["mx"] = [f"{p} {h or '.'}" for p, h in mx]
    if is_null_mx(mx):
        return mx_findings(domain, mx, []), []
    if not mx:
        # RFC 5321 §5.1: without MX the domain itself is the implicit MX, so senders connect
        # to its A/AAAA: check its TLSA and STARTTLS like any MX (policy coverage needs MX).
        # RFC 7672 §2.2.1: its only DNS link before the TLSA is its own address records.
        host, host_findings = await _mx_host(ctx, domain, 0, records, DaneChain(domain=domain))
        out = mx_findings(domain, mx, [])
        if host.failed:
            out.append(finding("mx.lookup-failed", domain, f"A/AAAA: {host.failed}"))
        elif not host.addresses:
            out.append(finding("mx.no-address", domain))
        return out + host_findings, []
    hosts = list(dict.fromkeys(h for _, h in mx))
    prefs = {h: p for p, h in reversed(mx)}
    # The AD bit covers the whole answer: the MX RRset and any CNAME on the way to it.
    chain = DaneChain(mx=outcome.secure, domain=domain)
    results = await asyncio.gather(
        *(_mx_host(ctx, h, prefs[h], records, chain) for h in hosts)
    )
    mx_hosts = [r[0] for r in results]
    out = mx_findings(domain, mx, mx_hosts)
    for _, host_findings in results:
        out += host_findings
    return out, hosts


async def _mx_host(
    ctx: _Context, host: str, pref: int, records: dict[str, Any], chain: DaneChain
) -> tuple[MxHost, list[Finding]]:
    """Addresses and TLSA of one MX host (in parallel), then a probe of each address.

    ``chain`` says whether the MX RRset was secure; the host's own address answers complete
    it, so the TLSA records count only as DANE senders count them."""
    a_task = asyncio.ensure_future(ctx.resolver.lookup(host, "A"))
    aaaa_task = asyncio.ensure_future(ctx.resolver.lookup(host, "AAAA"))
    tlsa_task = asyncio.ensure_future(ctx.resolver.lookup(f"_25._tcp.{host}", "TLSA"))
    try:
        a, aaaa, tlsa = await asyncio.gather(a_task, aaaa_task, tlsa_task)
    finally:
        for t in (a_task, aaaa_task, tlsa_task):
            t.cancel()
    mxh = MxHost(host=host, preference=pref)
    for o in (a, aaaa):
        if isinstance(o, Answer):
            mxh.addresses += [r.address for r in o.records]
            if o.cnames:
                mxh.cname = o.cnames[-1]
    failed = [o for o in (a, aaaa) if isinstance(o, Failed)]
    if failed and not mxh.addresses:
        mxh.failed = failed[0].reason
    records.setdefault("addresses", {})[host] = mxh.addresses
    answered = [o for o in (a, aaaa) if not isinstance(o, Failed)]
    address_secure = None if mxh.failed else all(o.secure for o in answered)
    cname = next((o.cnames[-1] for o in answered if o.cnames), None)
    chain = DaneChain(chain.mx, address_secure, chain.domain, cname)
    state, tlsa_records, reason = _tlsa_state(tlsa)
    if state in ("secure", "insecure", "bogus") and await ctx.validation(chain.domain) is False:
        # Through a resolver that does not validate, no DNSSEC state can be known: neither
        # "insecure" nor "ok" (dns.resolver-not-validating says why, once).
        state = "unknown"
    records.setdefault("tlsa", {})[host] = {
        "state": state,
        "records": [r.to_text() for r in tlsa_records],
        "chain": {"mx": chain.mx, "address": chain.address},
    }
    out = [] if state == "unknown" else tlsa_findings(host, state, tlsa_records, reason, chain)
    if not ctx.options.probe or not mxh.addresses:
        return mxh, out
    # Senders use TLSA only when it and every link before it are secure: only then match.
    dane = tlsa_records if dane_applies(state, chain) else None
    records["tlsa"][host]["applies"] = dane is not None
    probes = await asyncio.gather(*(_probe(ctx, host, addr, dane) for addr in mxh.addresses))
    records.setdefault("probe", {})[host] = {p.address: p.to_json() for p in probes}
    for p in probes:
        out += p.findings
    return mxh, out


def _tlsa_state(outcome: Outcome) -> tuple[str, list[TlsaRecord], str]:
    if isinstance(outcome, Failed):
        return ("bogus" if outcome.servfail else "failed"), [], outcome.reason
    if isinstance(outcome, Missing):
        return "none", [], ""
    recs = [
        TlsaRecord(int(r.usage), int(r.selector), int(r.mtype), bytes(r.cert))
        for r in outcome.records
    ]
    return ("secure" if outcome.secure else "insecure"), recs, ""


async def _probe(ctx: _Context, host: str, address: str, tlsa: list[TlsaRecord] | None) -> Any:
    from tlsrpt_tui.net.starttls import probe_mx  # aiosmtplib: not imported by --no-probe

    async with ctx.connections:
        return await probe_mx(
            host,
            address,
            port=ctx.options.smtp_port,
            ca_file=ctx.options.ca_file,
            timeout=ctx.options.timeout,
            tlsa=tlsa,
            allow_private_targets=ctx.options.allow_private_targets,
        )


# -- many domains -----------------------------------------------------------------------
async def check_domains(
    domains: Iterable[str],
    options: CheckOptions | None = None,
    *,
    concurrency: int | None = None,
    previous: dict[str, DomainStatus | dict[str, Any]] | None = None,
    on_result: Callable[[DomainStatus], None] | None = None,
) -> list[DomainStatus]:
    """Check ``domains`` (in input order) with at most ``concurrency`` domains at once."""
    options = options or CheckOptions()
    ctx = _Context(options)
    limit = asyncio.Semaphore(concurrency or options.concurrency)
    names = [normalize_domain(d) for d in domains]

    async def one(name: str) -> DomainStatus:
        async with limit:
            return await _check_one(ctx, name, (previous or {}).get(name))

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(n)) for n in names]
    results = [t.result() for t in tasks]
    judge_port25(results)  # needs every domain's probes: results are final only now
    if on_result is not None:
        for result in results:
            on_result(result)
    return results


# -- port 25 blocked from here ------------------------------------------------------------
#: How long an accepted port-25 connection proves the port open from this host: the TUI and
#: ``watch`` check one domain at a time, and a domain whose MX are all dead must not be called
#: "blocked here" when another domain's MX answered a minute ago.
PORT25_EVIDENCE_SECONDS = 3600.0


@dataclass(slots=True)
class Port25Memory:
    """When this process last saw an MX accept a TCP connection on the SMTP port."""

    last_open: float | None = None

    def open_recently(self, now: float) -> bool:
        return self.last_open is not None and now - self.last_open < PORT25_EVIDENCE_SECONDS


PORT25 = Port25Memory()


def judge_port25(statuses: list[DomainStatus], memory: Port25Memory = PORT25) -> bool:
    """tls.probe-blocked: when no probed MX address of any of ``statuses`` accepted a TCP
    connection on the SMTP port, the cause is almost surely this host's network (outbound port
    25 is blocked on most cloud hosts and home lines), not every MX at once. Then each result
    gets one tls.probe-blocked (subject "this host") instead of a tls.unreachable per MX
    address, and its STARTTLS (and DANE match) items read "not checked". DNS worked: the MX
    addresses that were probed came from it. Nor is it blocked if an MX of another check
    accepted a connection within ``PORT25_EVIDENCE_SECONDS`` (``memory``). Returns whether it
    judged the port blocked."""
    probes = [
        (status, host, p)
        for status in statuses
        for host, per_address in (status.records.get("probe") or {}).items()
        for p in per_address.values()
    ]
    tried = [p for _, _, p in probes if p.get("attempted")]
    now = time.monotonic()
    if any(p.get("connected") for p in tried):
        memory.last_open = now
        return False
    if not tried or memory.open_recently(now):
        return False
    for status in statuses:
        blocked = {
            host
            for host, per_address in (status.records.get("probe") or {}).items()
            if per_address and all(
                p.get("attempted") and not p.get("connected") for p in per_address.values()
            )
        }
        if not blocked:
            continue
        rec = status.records
        for host in blocked:
            rec.setdefault("starttls", {})[host] = {"state": "not checked"}
            tlsa = (rec.get("tlsa") or {}).get(host)
            if isinstance(tlsa, dict) and tlsa.get("applies"):
                tlsa["match"] = "not checked"
        kept = [
            f for f in status.findings if not (f.code == "tls.unreachable" and f.subject in blocked)
        ]
        port = tried[0].get("port", 25)
        detail = f"{len(tried)} MX address(es) tried on port {port}, none accepted a connection"
        kept.append(finding("tls.probe-blocked", "this host", detail))
        status.findings = kept
        status.status = worst(kept)
    return True


def check_and_store(
    store: Any, domains: Iterable[str], options: CheckOptions | None = None
) -> list[tuple[DomainStatus, list[str]]]:
    """Check, compare with the last stored result of each domain, store; returns (status, changes).

    Synchronous front for the CLI; the TUI uses ``check_domains`` from its worker.
    """
    from tlsrpt_tui.store import checks as check_store

    names = [normalize_domain(d) for d in domains]
    last = {n: check_store.latest(store, n) for n in names}
    prev = {n: v for n, v in last.items() if v is not None}
    results = asyncio.run(check_domains(names, options, previous=prev))
    with store.transaction():  # one commit for the run, not one per domain
        for status in results:
            check_store.insert(store, status.to_json())
    return [(status, changes(prev.get(status.domain), status)) for status in results]


# -- what changed -----------------------------------------------------------------------
def changes(
    prev: DomainStatus | dict[str, Any] | None, cur: DomainStatus | dict[str, Any]
) -> list[str]:
    """Plain-language lines saying what changed between two results of one domain."""
    if prev is None:
        return []
    p = prev.to_json() if isinstance(prev, DomainStatus) else prev
    c = cur.to_json() if isinstance(cur, DomainStatus) else cur
    lines: list[str] = []
    if p["status"] != c["status"]:
        lines.append(f"status {p['status']} → {c['status']}")
    old = {(f["code"], f["subject"]) for f in p.get("findings", [])}
    new = {(f["code"], f["subject"]) for f in c.get("findings", [])}
    for code, subject in sorted(new - old):
        lines.append(f"new: {code} ({subject})")
    for code, subject in sorted(old - new):
        lines.append(f"gone: {code} ({subject})")
    pr, cr = p.get("records", {}), c.get("records", {})
    for key in ("tlsrpt", "sts", "sts_id", "policy", "mx", "addresses", "tlsa"):
        if pr.get(key) != cr.get(key):
            lines.append(f"{_RECORD_NAMES[key]} changed")
    return lines


_RECORD_NAMES = {
    "tlsrpt": "TLS-RPT record",
    "sts": "MTA-STS record",
    "sts_id": "MTA-STS id",
    "policy": "MTA-STS policy",
    "mx": "MX set",
    "addresses": "MX addresses",
    "tlsa": "TLSA records",
}
