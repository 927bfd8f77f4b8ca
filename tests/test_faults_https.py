"""HTTPS faults at the MTA-STS policy host: slow drip, endless bodies and headers, redirect
loops, broken or stalled TLS handshakes (tests/peers/faulty.py's FaultyHttps).

Each fault gives its finding (sts.policy.fetch-error / too-large / redirect, never a crash or
a hang) within the fetch timeout, and in a full check the other findings are all there.
"""

from __future__ import annotations

import time

import pytest
from peers.faulty import FaultyPeers, add_domain, elapsed, faulty_peers  # noqa: F401
from peers.tls import TlsPeers

from tlsrpt_tui.net.policy_fetch import MAX_POLICY_BYTES, fetch_policy
from tlsrpt_tui.service.checks import CheckOptions, check_domain

pytestmark = pytest.mark.peers

T = 1.5
#: Upper bound for faults that need no timeout: generous (a loaded 2-core CI box), still under
#: the two timeouts a hang would cost; the finding's code says which path was taken.
FAST = 2 * T

# mode → (finding code, words the message must contain, lower and upper bound of the time)
CASES = {
    "drip": ("sts.policy.fetch-error", f"no answer within {T:g} s", 0.9 * T, T + 0.5),
    "no-response": ("sts.policy.fetch-error", f"no answer within {T:g} s", 0.9 * T, T + 0.5),
    "tls-stall": ("sts.policy.fetch-error", f"no answer within {T:g} s", 0.9 * T, T + 0.5),
    "endless": ("sts.policy.too-large", f"more than {MAX_POLICY_BYTES} bytes", 0.0, FAST),
    "endless-chunked": ("sts.policy.too-large", f"more than {MAX_POLICY_BYTES} bytes", 0.0, FAST),
    "gzip-bomb": ("sts.policy.too-large", f"more than {MAX_POLICY_BYTES} bytes", 0.0, FAST),
    "endless-headers": ("sts.policy.fetch-error", "Receive buffer too long", 0.0, FAST),
    "redirect-loop": ("sts.policy.redirect", "HTTP 301 to https://mta-sts.", 0.0, FAST),
    "tls-garbage": ("sts.policy.fetch-error", "TLS handshake failed", 0.0, FAST),
    "tls-close": ("sts.policy.fetch-error", "TLS handshake failed", 0.0, FAST),
}


@pytest.mark.parametrize("mode", sorted(CASES))
async def test_policy_host_fault(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
    mode: str,
) -> None:
    code, words, low, high = CASES[mode]
    server = faulty_peers.https_servers[mode]
    requests_before = server.requests
    start = time.monotonic()
    result = await fetch_policy(
        f"h-{mode}.https.test", [server.address], ca_file=tls_peers.ca_file, timeout=T,
        allow_private_targets=True,
    )  # fmt: skip
    took = elapsed(start)
    assert [f.code for f in result.findings] == [code], result.findings
    finding = result.findings[0]
    assert words in finding.message, finding.message
    assert "\n" not in finding.message and finding.message.strip()
    assert result.body is None
    assert low <= took <= high, f"{mode}: {took:.2f} s"
    if mode == "redirect-loop":
        assert server.requests - requests_before == 1  # the redirect was not followed
    if mode.startswith("tls-"):
        assert finding.code != "sts.policy.webpki"  # not a certificate problem


async def test_endless_body_is_not_read_past_the_limit(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    server = faulty_peers.https_servers["endless"]
    result = await fetch_policy(
        "limit.https.test", [server.address], ca_file=tls_peers.ca_file, timeout=T,
        allow_private_targets=True,
    )  # fmt: skip
    assert [f.code for f in result.findings] == ["sts.policy.too-large"]
    # The client hung up right after 64 KiB: the server could push little more (socket buffers).
    time.sleep(0.3)
    assert server.bytes_sent < 8 * 1024 * 1024, server.bytes_sent


async def test_gzip_bomb_is_stopped_at_the_limit_with_little_memory(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    """We ask for identity; a server that compresses anyway (256 MiB of zeros) is cut at 64 KiB
    of decoded text, and decoding never holds more than that limit of output."""
    import tracemalloc

    server = faulty_peers.https_servers["gzip-bomb"]
    before = server.requests
    tracemalloc.start()
    try:
        result = await fetch_policy(
            "bomb.https.test", [server.address], ca_file=tls_peers.ca_file, timeout=5.0,
            allow_private_targets=True,
        )  # fmt: skip
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [f.code for f in result.findings] == ["sts.policy.too-large"]
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while decoding"
    assert server.requests == before + 1


async def test_dead_address_then_good_address(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
) -> None:
    """A policy host with a broken address first: the next address is tried (as MTAs do)."""
    domain = "twoaddr.https.test"
    tls_peers.set_policy(f"mta-sts.{domain}", body="version: STSv1\nmode: none\nmax_age: 86400\n")
    result = await fetch_policy(
        domain, [faulty_peers.https["tls-close"], tls_peers.https_address],
        ca_file=tls_peers.ca_file, timeout=T, allow_private_targets=True,
    )  # fmt: skip
    assert result.findings == [] and result.body is not None
    assert result.address == tls_peers.https_address


@pytest.mark.parametrize("mode", ["drip", "endless", "redirect-loop", "tls-stall", "tls-garbage"])
async def test_faulty_policy_host_in_a_full_check(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
    mode: str,
) -> None:
    assert faulty_peers.dns is not None
    domain = f"c-{mode}.https.test"
    add_domain(faulty_peers.dns, tls_peers, domain, policy_address=faulty_peers.https[mode])
    options = CheckOptions(
        resolver=faulty_peers.dns.resolver, ca_file=tls_peers.ca_file, timeout=T,
        allow_private_targets=True,
    )  # fmt: skip
    start = time.monotonic()
    status = await check_domain(domain, options)
    took = elapsed(start)
    got = {f.code for f in status.findings}
    expected = CASES[mode][0]
    assert got == {"tlsrpt.ok", "sts.record.ok", expected, "mx.ok", "dane.none", "tls.ok"}, got
    assert status.status == "error"
    assert took < T + 1.0, f"{took:.2f} s: the other steps waited on the policy host"
