"""DNS faults: timeouts, SERVFAIL, REFUSED, truncation (TCP fallback), garbage, huge TXT sets.

The resolver is tests/peers/faulty.py's FaultyDns (our own, so it can misbehave per name). Each
fault must give its "could not check" finding (``*.lookup-failed``, never ``*.missing``)
within its timeout, and a ``check_domain`` where one lookup is broken must still report every
other finding, in about one timeout (no step waits on another's failure).
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from peers.faulty import FaultyPeers, add_domain, elapsed, faulty_peers  # noqa: F401
from peers.tls import TlsPeers

from tlsrpt_tui.net.dns import Answer, Failed, Resolver
from tlsrpt_tui.service.checks import CheckOptions, check_domain

pytestmark = pytest.mark.peers

T = 1.5  # the timeout every lookup gets here
HEALTHY = {"tlsrpt.ok", "sts.record.ok", "sts.policy.ok", "mx.ok", "dane.none", "tls.ok"}


def options(peers: FaultyPeers, tls: TlsPeers, timeout: float = T, **kw) -> CheckOptions:  # type: ignore[no-untyped-def]
    assert peers.dns is not None
    return CheckOptions(
        resolver=peers.dns.resolver, ca_file=tls.ca_file, timeout=timeout,
        allow_private_targets=True, **kw,
    )  # fmt: skip


def codes(status) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.code for f in status.findings}


# -- the resolver on its own ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason", "low", "high"),
    [
        ("timeout", "timeout", 0.9 * T, T + 0.5),
        # No timeout needed: a generous bound (loaded CI), the reason says which path ran.
        ("servfail", "servfail", 0.0, 2 * T),
        ("refused", "refused", 0.0, 2 * T),
        ("truncated-dead-tcp", "network: ", 0.0, 2 * T),
        ("garbage", None, 0.0, T + 0.5),
    ],
)
async def test_resolver_fault_is_failed_not_missing(
    faulty_peers: FaultyPeers,  # noqa: F811
    fault: str, reason: str | None, low: float, high: float,
) -> None:  # fmt: skip
    dns = faulty_peers.dns
    assert dns is not None
    name = f"r-{fault}.dns.test"
    dns.add(name, "TXT", '"v=TLSRPTv1; rua=mailto:a@dns.test"')
    dns.fault(name, fault)
    start = time.monotonic()
    outcome = await Resolver(dns.resolver, timeout=T).lookup(name, "TXT")
    took = elapsed(start)
    assert isinstance(outcome, Failed), outcome
    if reason is not None:
        assert outcome.reason.startswith(reason), outcome.reason
    assert low <= took <= high, f"{fault}: {took:.2f} s"
    assert dns.queries(name, "udp") >= 1


async def test_timeout_retries_udp_once_within_the_budget(
    faulty_peers: FaultyPeers,  # noqa: F811
) -> None:
    dns = faulty_peers.dns
    assert dns is not None
    dns.fault("r-retry.dns.test", "timeout")
    outcome = await Resolver(dns.resolver, timeout=T).lookup("r-retry.dns.test", "A")
    assert isinstance(outcome, Failed) and outcome.reason == "timeout"
    assert dns.queries("r-retry.dns.test", "udp") == 2  # re-sent once at half the budget
    assert dns.queries("r-retry.dns.test", "tcp") == 0


async def test_truncated_answer_falls_back_to_tcp(faulty_peers: FaultyPeers) -> None:  # noqa: F811
    dns = faulty_peers.dns
    assert dns is not None
    name = "r-tc.dns.test"
    dns.add(name, "TXT", '"v=TLSRPTv1; rua=mailto:a@dns.test"')
    dns.fault(name, "truncated")
    outcome = await Resolver(dns.resolver, timeout=T).lookup(name, "TXT")
    assert isinstance(outcome, Answer), outcome
    assert outcome.texts == ["v=TLSRPTv1; rua=mailto:a@dns.test"]
    assert dns.queries(name, "udp") == 1 and dns.queries(name, "tcp") == 1


async def test_huge_txt_set_is_read_over_tcp(faulty_peers: FaultyPeers) -> None:  # noqa: F811
    dns = faulty_peers.dns
    assert dns is not None
    name = "r-huge.dns.test"
    # 250 records of 240 bytes: ~60 KB, far over the 1232-byte EDNS payload, under 64 KiB.
    texts = [f"filler-{i:03d}-" + "x" * 228 for i in range(250)]
    dns.add(name, "TXT", *(f'"{t}"' for t in texts))
    start = time.monotonic()
    outcome = await Resolver(dns.resolver, timeout=T).lookup(name, "TXT")
    assert elapsed(start) < T
    assert isinstance(outcome, Answer), outcome
    assert sorted(outcome.texts) == sorted(texts)
    assert dns.queries(name, "tcp") == 1  # the UDP answer came back truncated, as it must


async def test_slow_answer_inside_the_budget_is_used(faulty_peers: FaultyPeers) -> None:  # noqa: F811
    dns = faulty_peers.dns
    assert dns is not None
    dns.add("r-slow.dns.test", "A", "192.0.2.7")
    dns.fault("r-slow.dns.test", "slow", delay=0.4 * T)
    outcome = await Resolver(dns.resolver, timeout=T).lookup("r-slow.dns.test", "A")
    assert isinstance(outcome, Answer) and [r.address for r in outcome.records] == ["192.0.2.7"]


# -- check_domain: one broken lookup, everything else still reported -----------------------------

# (name of the broken lookup relative to the domain, rdtype, fault, finding expected,
#  healthy findings that it legitimately replaces)
CASES = [
    ("_smtp._tls", "TXT", "timeout", "tlsrpt.lookup-failed", {"tlsrpt.ok"}),
    ("_smtp._tls", "TXT", "servfail", "tlsrpt.lookup-failed", {"tlsrpt.ok"}),
    ("_mta-sts", "TXT", "timeout", "sts.record.lookup-failed", {"sts.record.ok", "sts.policy.ok"}),
    ("_mta-sts", "TXT", "refused", "sts.record.lookup-failed", {"sts.record.ok", "sts.policy.ok"}),
    ("mta-sts", "A", "timeout", "sts.policy.fetch-error", {"sts.policy.ok"}),
    ("", "MX", "timeout", "mx.lookup-failed", {"mx.ok", "dane.none", "tls.ok"}),
    ("", "MX", "servfail", "mx.lookup-failed", {"mx.ok", "dane.none", "tls.ok"}),
    ("mx1", "A", "timeout", "mx.lookup-failed", {"mx.ok", "tls.ok"}),
    ("_25._tcp.mx1", "TLSA", "timeout", "dane.lookup-failed", {"dane.none"}),
]


def _case_id(case: tuple) -> str:  # type: ignore[type-arg]
    return f"{case[0] or 'apex'}-{case[1]}-{case[2]}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
async def test_one_broken_lookup_in_a_check(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
    case: tuple,
) -> None:  # type: ignore[type-arg]
    label, rdtype, fault, expected, replaced = case
    assert faulty_peers.dns is not None
    domain = f"c-{re.sub('[^a-z0-9-]', '', _case_id(case).lower())}.dns.test"
    add_domain(faulty_peers.dns, tls_peers, domain)
    broken = f"{label}.{domain}" if label else domain
    faulty_peers.dns.fault(broken, fault, rdtype)
    start = time.monotonic()
    status = await check_domain(domain, options(faulty_peers, tls_peers))
    took = elapsed(start)
    got = codes(status)
    detail = "\n".join(f"{f.code} {f.subject}: {f.message}" for f in status.findings)
    assert expected in got, detail
    assert not {c for c in got if c.endswith((".missing", ".none")) and c != "dane.none"}, detail
    assert got - {expected} == HEALTHY - replaced, detail
    assert status.status == "error"
    # About one timeout for the broken step, while every other step ran at the same time.
    budget = T + 1.0  # one timeout at most (the broken step's own), however loaded the box
    assert took < budget, f"{took:.2f} s: something waited on the broken lookup"
    failed = next(f for f in status.findings if f.code == expected)
    assert failed.severity == "error"


async def test_tlsa_servfail_under_an_insecure_chain_is_not_an_error(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    """FaultyDns never sets AD: the MX RRset is insecure, so DANE senders never ask for the
    TLSA records and a SERVFAIL there delays no mail (dane.bogus needs a secure chain)."""
    assert faulty_peers.dns is not None
    domain = "tlsa-servfail-insecure.dns.test"
    add_domain(faulty_peers.dns, tls_peers, domain)
    faulty_peers.dns.fault(f"_25._tcp.mx1.{domain}", "servfail", "TLSA")
    status = await check_domain(domain, options(faulty_peers, tls_peers))
    got = codes(status)
    assert got == HEALTHY - {"dane.none"} | {"dane.mx-insecure"}, got
    (f,) = [f for f in status.findings if f.code == "dane.mx-insecure"]
    assert f.severity == "info" and "servfail" in f.message and domain in f.message
    assert status.status != "error"


async def test_every_lookup_times_out_costs_one_timeout(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    dns = faulty_peers.dns
    assert dns is not None
    domain = "all-dead.dns.test"
    for name in (f"_smtp._tls.{domain}", f"_mta-sts.{domain}", f"mta-sts.{domain}", domain):
        dns.fault(name, "timeout")
    start = time.monotonic()
    status = await check_domain(domain, options(faulty_peers, tls_peers))
    took = elapsed(start)
    assert codes(status) == {"tlsrpt.lookup-failed", "sts.record.lookup-failed", "mx.lookup-failed"}
    assert all(f.message for f in status.findings)
    assert T * 0.9 <= took < T + 1.0, f"{took:.2f} s"


async def test_truncated_and_huge_answers_in_a_check(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    dns = faulty_peers.dns
    assert dns is not None
    domain = "tc.dns.test"
    add_domain(dns, tls_peers, domain)
    dns.fault(f"_smtp._tls.{domain}", "truncated")
    dns.fault(domain, "truncated", "MX")
    # A huge set at _mta-sts: 200 copies of a valid record → "multiple", read in full over TCP.
    dns.add(f"_mta-sts.{domain}", "TXT", *(f'"v=STSv1; id={i:05d}{"0" * 20}"' for i in range(200)))
    status = await check_domain(domain, options(faulty_peers, tls_peers))
    got = codes(status)
    assert got == {"tlsrpt.ok", "sts.record.multiple", "mx.ok", "dane.none", "tls.ok"}, got
    assert dns.queries(f"_smtp._tls.{domain}", "tcp") == 1
    assert dns.queries(f"_mta-sts.{domain}", "tcp") == 1
    assert dns.queries(domain, "tcp") == 1


async def test_many_domains_with_dead_dns_run_in_parallel(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    from tlsrpt_tui.service.checks import check_domains

    dns = faulty_peers.dns
    assert dns is not None
    names = [f"par{i}.dns.test" for i in range(10)]
    for d in names:
        add_domain(dns, tls_peers, d)
        dns.fault(f"_smtp._tls.{d}", "timeout")
    # 2T per lookup: the fake DNS answers the 10 domains' other lookups from threads of this
    # process, and beside two CPU burners one of them once took over T (dane.lookup-failed);
    # in series the 10 dead lookups would still take 10 x 2T
    timeout = 2 * T
    start = time.monotonic()
    results = await asyncio.wait_for(
        check_domains(names, options(faulty_peers, tls_peers, timeout=timeout)), 60)
    took = elapsed(start)
    for r in results:
        assert codes(r) == (HEALTHY - {"tlsrpt.ok"}) | {"tlsrpt.lookup-failed"}, r.domain
    assert took < timeout + 1.5, f"{took:.2f} s for 10 domains"


async def test_resolver_that_strips_signatures_is_not_validating(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    """A resolver that passes no RRSIG at all (no DO support) and never sets AD, for a TLD
    that publishes a DNSKEY: it cannot be validating, so the DANE items read "unknown"."""
    dns = faulty_peers.dns
    assert dns is not None
    dns.add("stripped", "DNSKEY", "257 3 13 " + "A" * 86 + "==")
    domain = "sig.stripped"
    add_domain(dns, tls_peers, domain)
    dns.add(f"_25._tcp.mx1.{domain}", "TLSA", "3 1 1 " + "ab" * 32)
    assert await Resolver(dns.resolver, timeout=T).validates("stripped.") is False
    assert await Resolver(dns.resolver, timeout=T).validates("test.") is None  # no DNSKEY
    status = await check_domain(domain, options(faulty_peers, tls_peers))
    got = codes(status)
    assert "dns.resolver-not-validating" in got and "dane.insecure" not in got, got
    assert status.records["tlsa"][f"mx1.{domain}"]["state"] == "unknown"
