"""A check run asks the resolver each name once: counted by the real Unbound's own query log.

Six domains, four of them hosted on one provider's two MX (as most domains are: a shared MX
with its TLSA), checked in one run through Knot + Unbound. Unbound logs every query a client
sends it (``log-queries``); the run's queries are read from that log, so the count is the
resolver's, not ours. Each (name, type) must come once, and the shared hosts' A/AAAA/TLSA
once for all four domains. The same domains checked one run each ask the shared names once
per run (the cache is the run's), which also shows the count sees repeats.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from peers.dns import DnsPeers, Zone, dns_peers_factory  # noqa: F401  (session fixture)
from peers.tls import TlsPeers

from tlsrpt_tui.service.checks import CheckOptions, check_domain, check_domains

pytestmark = pytest.mark.peers

HOSTED = [f"h{i}.test" for i in range(4)]
OWN = ["own0.test", "own1.test"]
SHARED_MX = ("mx1.hoster.test", "mx2.hoster.test")


def zone_lines(tls: TlsPeers) -> list[str]:
    tlsa = [f"3 1 1 {tls.good_spki_sha256.hex()}", "3 1 1 " + "ab" * 32]  # current + next key
    lines = []
    for mx in SHARED_MX:
        lines += [f"{mx}. A {tls.smtp['good']}", *(f"_25._tcp.{mx}. TLSA {t}" for t in tlsa)]
    for d in HOSTED + OWN:
        lines += [f'_smtp._tls.{d}. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d}"',
                  f'_mta-sts.{d}. TXT "v=STSv1; id=1"',
                  f"mta-sts.{d}. A {tls.https_address}"]
        hosts = SHARED_MX if d in HOSTED else (f"mx.{d}",)
        for i, mx in enumerate(hosts):
            lines.append(f"{d}. MX {10 * (i + 1)} {mx}.")
        if d in OWN:
            lines.append(f"mx.{d}. A {tls.smtp['good']}")
            lines += [f"_25._tcp.mx.{d}. TLSA {t}" for t in tlsa]
        tls.set_policy(f"mta-sts.{d}", body="version: STSv1\nmode: enforce\n"
                       + "".join(f"mx: {h}\n" for h in hosts) + "max_age: 604800\n")
    return lines


@pytest.fixture(scope="module")
def dns(tls_peers: TlsPeers, dns_peers_factory) -> DnsPeers:  # noqa: F811
    return dns_peers_factory([Zone("test.", "\n".join(zone_lines(tls_peers)))],
                             log_queries=True)


def options(dns: DnsPeers, tls: TlsPeers) -> CheckOptions:
    return CheckOptions(resolver=dns.resolver, ca_file=tls.ca_file, timeout=5.0, probe=False,
                        allow_private_targets=True)


def queries_of(dns: DnsPeers, run) -> Counter[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The queries Unbound logged while ``run()`` ran (its log is written as they come)."""
    before = len(dns.queries())
    run()
    time.sleep(0.2)  # the last log lines
    return Counter(dns.queries()[before:])


def test_one_run_asks_every_name_once(dns: DnsPeers, tls_peers: TlsPeers) -> None:
    results: list = []
    asked = queries_of(dns, lambda: results.extend(asyncio.run(
        check_domains(HOSTED + OWN, options(dns, tls_peers)))))
    good = {"tlsrpt.ok", "sts.record.ok", "sts.policy.ok", "mx.ok"}  # no probe: no dane.ok
    assert {r.domain: r.codes for r in results} == dict.fromkeys(HOSTED + OWN, good)
    repeated = {q: n for q, n in asked.items() if n > 1}
    assert repeated == {}
    for mx in SHARED_MX:
        assert asked[(mx, "A")] == asked[(mx, "AAAA")] == asked[(f"_25._tcp.{mx}", "TLSA")] == 1
    # bounded: per domain its two TXT, MX, the policy host's A/AAAA, and A/AAAA/TLSA per own
    # MX host; the shared hosts once for all; one SOA of test. (does the resolver validate?)
    per_domain = 5 * len(HOSTED + OWN) + 3 * len(OWN) + 3 * len(SHARED_MX) + 1
    assert sum(asked.values()) == per_domain, sorted(asked)


def test_the_cache_lasts_one_run(dns: DnsPeers, tls_peers: TlsPeers) -> None:
    async def each_on_its_own() -> None:
        for d in HOSTED:
            await check_domain(d, options(dns, tls_peers))

    asked = queries_of(dns, lambda: asyncio.run(each_on_its_own()))
    assert asked[("_25._tcp.mx1.hoster.test", "TLSA")] == len(HOSTED)
    assert asked[("test", "SOA")] == len(HOSTED)
