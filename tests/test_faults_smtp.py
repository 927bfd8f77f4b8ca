"""SMTP faults at an MX: silent or dripping banner, STARTTLS refused (454), connection closed or
stalled in the middle of the TLS handshake (tests/peers/faulty.py's FaultySmtp).

Each gives tls.unreachable or tls.handshake-failed within the probe's bound (``timeout`` per
step), and in a full check every other finding is still reported, in about one probe's time.
"""

from __future__ import annotations

import time

import pytest
from peers.faulty import FaultyPeers, add_domain, elapsed, faulty_peers  # noqa: F401
from peers.tls import TlsPeers

from tlsrpt_tui.net.starttls import probe_mx
from tlsrpt_tui.service.checks import CheckOptions, check_domain, check_domains

pytestmark = pytest.mark.peers

T = 1.5
#: Upper bound for faults that need no timeout: generous (a loaded 2-core CI box), still under
#: the two timeouts a hang would cost; the finding's code says which path was taken.
FAST = 2 * T

# mode → (finding code, words in its message, lower and upper bound of the probe's time)
CASES = {
    "silent": ("tls.unreachable", "no greeting", 0.9 * T, T + 0.5),
    "drip-banner": ("tls.unreachable", "no greeting before the timeout", 0.9 * T, T + 0.5),
    "starttls-454": ("tls.handshake-failed", "the server answered 454 4.7.0 TLS not", 0.0, FAST),
    "starttls-close": ("tls.handshake-failed", "Connection reset", 0.0, FAST),
    "starttls-stall": ("tls.handshake-failed", "timed out", 0.9 * T, T + 0.5),
    # Over-long replies: our reader gives up; that is not "no STARTTLS" (it was offered).
    "endless-greeting": ("tls.unreachable", "unreadable reply from the server", 0.0, FAST),
    "huge-ehlo": ("tls.unreachable", "EHLO: unreadable reply from the server", 0.0, FAST),
}


@pytest.mark.parametrize("mode", sorted(CASES))
async def test_mx_fault(faulty_peers: FaultyPeers, tls_peers: TlsPeers, mode: str) -> None:  # noqa: F811
    code, words, low, high = CASES[mode]
    server = faulty_peers.smtp_servers[mode]
    start = time.monotonic()
    result = await probe_mx(
        f"mx.{mode}.smtp.test", server.address, ca_file=tls_peers.ca_file, timeout=T,
        allow_private_targets=True,
    )  # fmt: skip
    took = elapsed(start)
    assert [f.code for f in result.findings] == [code], result.findings
    message = result.findings[0].message
    assert words in message and "\n" not in message, message
    assert low <= took <= high, f"{mode}: {took:.2f} s"
    assert server.connections >= 1
    if mode == "starttls-454":
        assert result.starttls is True and result.reachable
        assert any(c.upper().startswith(b"STARTTLS") for c in server.commands)


@pytest.mark.parametrize("mode", sorted(CASES))
async def test_faulty_mx_in_a_full_check(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
    mode: str,
) -> None:
    assert faulty_peers.dns is not None
    domain = f"c-{mode}.smtp.test"
    add_domain(faulty_peers.dns, tls_peers, domain, mx_address=faulty_peers.smtp[mode])
    options = CheckOptions(
        resolver=faulty_peers.dns.resolver, ca_file=tls_peers.ca_file, timeout=T,
        allow_private_targets=True,
    )  # fmt: skip
    start = time.monotonic()
    status = await check_domain(domain, options)
    took = elapsed(start)
    got = {f.code for f in status.findings}
    expected = CASES[mode][0]
    assert got == {"tlsrpt.ok", "sts.record.ok", "sts.policy.ok", "mx.ok", "dane.none", expected}
    assert took < T + 1.0, f"{took:.2f} s"


async def test_two_mx_one_dead_one_good(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    """The dead MX costs one timeout; the good one is probed meanwhile and reported ok."""
    dns = faulty_peers.dns
    assert dns is not None
    domain = "twomx.smtp.test"
    add_domain(dns, tls_peers, domain)
    dns.add(domain, "MX", f"20 mx2.{domain}.")
    dns.add(f"mx2.{domain}", "A", faulty_peers.smtp["silent"])
    tls_peers.set_policy(
        f"mta-sts.{domain}",
        body=f"version: STSv1\nmode: enforce\nmx: *.{domain}\nmax_age: 604800\n",
    )
    options = CheckOptions(
        resolver=dns.resolver, ca_file=tls_peers.ca_file, timeout=T, allow_private_targets=True
    )
    start = time.monotonic()
    status = await check_domain(domain, options)
    took = elapsed(start)
    by_subject = {(f.code, f.subject) for f in status.findings}
    assert ("tls.ok", f"mx1.{domain}") in by_subject
    assert ("tls.unreachable", f"mx2.{domain}") in by_subject
    assert took < T + 1.0, f"{took:.2f} s"


async def test_many_domains_with_dead_mx_run_in_parallel(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    dns = faulty_peers.dns
    assert dns is not None
    names = [f"par{i}.smtp.test" for i in range(12)]
    modes = ["silent", "starttls-stall", "drip-banner"]
    for i, d in enumerate(names):
        add_domain(dns, tls_peers, d, mx_address=faulty_peers.smtp[modes[i % 3]])
    # 12 domains' lookups at once from the Python DNS peer on a loaded box: a longer timeout
    # than T, so that only the dead MX use it up; one after the other they would take 12 of it
    timeout = 4.0
    options = CheckOptions(
        resolver=dns.resolver, ca_file=tls_peers.ca_file, timeout=timeout,
        allow_private_targets=True,
    )  # fmt: skip
    start = time.monotonic()
    results = await check_domains(names, options)
    took = elapsed(start)
    for r in results:
        got = {f.code for f in r.findings}
        assert got & {"tls.unreachable", "tls.handshake-failed"}, (r.domain, got)
        assert {"tlsrpt.ok", "sts.record.ok", "sts.policy.ok", "mx.ok"} <= got
    assert took < 2 * timeout, f"{took:.2f} s for {len(names)} domains"
