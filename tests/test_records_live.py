"""The record generator against real peers: Knot + Unbound (DNSSEC) and the STARTTLS/HTTPS peers.

Three domains: nothing published, everything right, and some things wrong. The generated set for
the empty domain is then published (a second Knot + Unbound serving exactly the generated zone
lines, the HTTPS peer serving the generated policy): ``check`` finds it all valid and
``records`` says "nothing to change", which is what "ready to paste" has to mean.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from peers.dns import DnsPeers, Zone, dns_peers_factory  # noqa: F401  (session fixture)
from peers.tls import TlsPeers

from tlsrpt_tui.core.checks.sts_policy import check_policy, coverage_findings
from tlsrpt_tui.service.checks import CheckOptions, check_domain
from tlsrpt_tui.service.records import generate, new_sts_id

pytestmark = pytest.mark.peers

TIMEOUT = 2.0
NOW = datetime(2026, 12, 1, 10, 30, 0, tzinfo=UTC)
OTHER_DIGEST = "ab" * 32
GOOD_POLICY = "version: STSv1\nmode: enforce\nmx: mx1.recgood.test\nmax_age: 604800\n"


@dataclass
class World:
    dns: DnsPeers
    tls: TlsPeers

    def options(self, resolver: str | None = None) -> CheckOptions:
        return CheckOptions(resolver=resolver or self.dns.resolver, ca_file=self.tls.ca_file,
                            timeout=TIMEOUT, allow_private_targets=True)


def _zone(peers: TlsPeers) -> str:
    good = peers.smtp["good"]
    key = peers.good_spki_sha256.hex()
    return "\n".join([
        # recnone.test: an MX and nothing else
        "recnone.test. MX 10 mx1.recnone.test.",
        f"mx1.recnone.test. A {good}",
        # recgood.test: everything right (TLSA with room for a rollover)
        '_smtp._tls.recgood.test. TXT "v=TLSRPTv1; rua=mailto:reports@recgood.test"',
        '_mta-sts.recgood.test. TXT "v=STSv1; id=2026113001"',
        f"mta-sts.recgood.test. A {peers.https_address}",
        "recgood.test. MX 10 mx1.recgood.test.",
        f"mx1.recgood.test. A {good}",
        f"_25._tcp.mx1.recgood.test. TLSA 3 1 1 {key}",
        f"_25._tcp.mx1.recgood.test. TLSA 3 1 1 {OTHER_DIGEST}",
        # recfix.test: policy forgets mx2 and is in testing, TLSA of an old key
        '_smtp._tls.recfix.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@recfix.test"',
        '_mta-sts.recfix.test. TXT "v=STSv1; id=1"',
        f"mta-sts.recfix.test. A {peers.https_address}",
        "recfix.test. MX 10 mx1.recfix.test.",
        "recfix.test. MX 20 mx2.recfix.test.",
        f"mx1.recfix.test. A {good}",
        f"mx2.recfix.test. A {good}",
        f"_25._tcp.mx1.recfix.test. TLSA 3 1 1 {OTHER_DIGEST}",
    ])


@pytest.fixture(scope="module")
def world(tls_peers: TlsPeers, dns_peers_factory) -> Iterator[World]:  # noqa: F811
    tls_peers.set_policy("mta-sts.recgood.test", body=GOOD_POLICY)
    tls_peers.set_policy(
        "mta-sts.recfix.test",
        body="version: STSv1\nmode: testing\nmx: mx1.recfix.test\nmax_age: 86400\n")
    dns = dns_peers_factory([Zone("test.", _zone(tls_peers))])
    yield World(dns, tls_peers)


def _run(world: World, domain: str, **kw):
    return asyncio.run(generate(domain, world.options(kw.pop("resolver", None)), now=NOW, **kw))


def _item(rs, kind: str, name: str | None = None):
    [item] = [i for i in rs.items if i.kind == kind and (name is None or i.name == name)]
    return item


def test_nothing_published_gets_a_complete_set(world: World) -> None:
    rs = _run(world, "recnone.test")
    key = world.tls.good_spki_sha256.hex()
    assert [(i.kind, i.state) for i in rs.items] == [
        ("tlsrpt", "add"), ("sts-record", "add"), ("sts-policy", "add"), ("tlsa", "add")]
    assert _item(rs, "tlsrpt").zone == (
        '_smtp._tls.recnone.test. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@recnone.test"',)
    assert _item(rs, "sts-record").zone == (
        f'_mta-sts.recnone.test. 3600 IN TXT "v=STSv1; id={new_sts_id(NOW)}"',)
    assert new_sts_id(NOW) == "20261201103000"
    # The generated TLSA is the served key's SPKI digest, and the check's DANE match agrees.
    tlsa = _item(rs, "tlsa")
    assert tlsa.proposed == (f"3 1 1 {key}",)
    assert tlsa.zone == (f"_25._tcp.mx1.recnone.test. 3600 IN TLSA 3 1 1 {key}",)
    # The generated policy passes our own validator and covers every MX.
    findings, policy = check_policy(rs.policy_text, "https://mta-sts.recnone.test/")
    assert policy is not None and [f.code for f in findings] == ["sts.policy.ok"]
    assert (policy.mode, policy.max_age, policy.mx) == ("testing", 86400, ("mx1.recnone.test",))
    assert coverage_findings(policy, ["mx1.recnone.test"]) == []
    assert rs.changes == 4


def test_everything_right_gets_nothing_to_change(world: World) -> None:
    rs = _run(world, "recgood.test")
    assert [(i.kind, i.state) for i in rs.items] == [
        ("tlsrpt", "ok"), ("sts-record", "ok"), ("sts-policy", "ok"), ("tlsa", "ok")]
    assert rs.changes == 0
    # Kept as published: the rua, the id (the policy does not change), the policy text.
    assert _item(rs, "tlsrpt").proposed == ("v=TLSRPTv1; rua=mailto:reports@recgood.test",)
    assert _item(rs, "sts-record").proposed == ("v=STSv1; id=2026113001",)
    assert rs.policy_text == GOOD_POLICY


def test_what_differs_is_named(world: World) -> None:
    rs = _run(world, "recfix.test", mode="enforce", rua=["mailto:new@recfix.test"])
    key = world.tls.good_spki_sha256.hex()
    tlsrpt = _item(rs, "tlsrpt")
    assert tlsrpt.state == "change"
    assert tlsrpt.differences == ("rua mailto:tlsrpt@recfix.test → mailto:new@recfix.test",)
    policy = _item(rs, "sts-policy")
    assert policy.state == "change"
    assert policy.differences == ("mode testing → enforce", "max_age 86400 → 604800",
                                  "mx added: mx2.recfix.test (not covered now)")
    assert policy.proposed == ("version: STSv1", "mode: enforce", "mx: mx1.recfix.test",
                               "mx: mx2.recfix.test", "max_age: 604800")
    record = _item(rs, "sts-record")
    assert record.state == "change" and record.proposed == ("v=STSv1; id=20261201103000",)
    tlsa1 = _item(rs, "tlsa", "_25._tcp.mx1.recfix.test")
    assert tlsa1.state == "change" and tlsa1.published == (f"3 1 1 {OTHER_DIGEST}",)
    assert tlsa1.proposed == (f"3 1 1 {key}",)
    assert ("no published record matches the served key: DANE senders defer mail; keep the "
            "others only if they are your next key") in tlsa1.differences
    assert _item(rs, "tlsa", "_25._tcp.mx2.recfix.test").state == "add"


def test_generated_set_published_checks_clean(world: World, tls_peers: TlsPeers,
                                              dns_peers_factory) -> None:  # noqa: F811
    """Paste the generated zone lines into a zone, serve the generated policy: all good."""
    rs = _run(world, "recnone.test")
    zone = [line for item in rs.items for line in item.zone]
    zone += ["recnone.test. MX 10 mx1.recnone.test.",
             f"mx1.recnone.test. A {tls_peers.smtp['good']}",
             f"mta-sts.recnone.test. A {tls_peers.https_address}"]
    tls_peers.set_policy("mta-sts.recnone.test", body=rs.policy_text)
    try:
        dns = dns_peers_factory([Zone("test.", "\n".join(zone))])
        status = asyncio.run(check_domain("recnone.test", world.options(dns.resolver)))
        assert status.codes == {"tlsrpt.ok", "sts.record.ok", "sts.policy.ok", "mx.ok",
                                "sts.policy.testing", "dane.ok", "dane.no-rollover", "tls.ok"}
        again = _run(world, "recnone.test", resolver=dns.resolver)
        assert again.changes == 0, [(i.kind, i.differences) for i in again.items]
    finally:
        tls_peers.set_policy("mta-sts.recnone.test", status=404, body="")


def _cli(world: World, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[checks]\nallow_private_targets = true\n")
    db = tmp_path / "store.sqlite3"
    env = {**os.environ, "TLSRPT_TUI_CONFIG": str(cfg), "TLSRPT_TUI_DB": str(db)}
    argv = [sys.executable, "-m", "tlsrpt_tui", "records", *args, "--resolver",
            world.dns.resolver, "--ca-file", world.tls.ca_file, "--timeout", str(TIMEOUT)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def test_cli_text_and_json(world: World, tmp_path: Path) -> None:
    res = _cli(world, tmp_path, "recgood.test")
    assert res.returncode == 0, res.stderr
    assert res.stdout.rstrip().endswith("nothing to change")
    assert "_25._tcp.mx1.recgood.test. 3600 IN TLSA 3 1 1 " in res.stdout
    assert not (tmp_path / "store.sqlite3").exists()  # nothing is written anywhere
    res = _cli(world, tmp_path, "recnone.test", "--format", "json", "--mode", "enforce")
    assert res.returncode == 1, res.stderr
    data = json.loads(res.stdout)
    assert data["changes"] == 4 and data["domain"] == "recnone.test"
    [policy] = [i for i in data["items"] if i["kind"] == "sts-policy"]
    assert "mode: enforce" in policy["proposed"] and "max_age: 604800" in policy["proposed"]


def test_cli_rejects_bad_input(world: World, tmp_path: Path) -> None:
    res = _cli(world, tmp_path, "recgood.test", "--rua", "mailto:x@y.test!10m")
    assert res.returncode == 2
    assert "'mailto:x@y.test!10m': a '!' size suffix is DMARC syntax" in res.stderr
    res = _cli(world, tmp_path, "bad..name")
    assert res.returncode == 2 and "'bad..name': not a domain name" in res.stderr



async def test_records_screen_shows_the_live_records(world: World, tmp_path: Path) -> None:
    """The TUI's records screen runs the same live check (config [checks]) and shows its set."""
    import re

    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.service.config import CheckSettings, Config
    from tlsrpt_tui.store.database import Store
    from tlsrpt_tui.ui.app import TlsrptApp
    from tlsrpt_tui.ui.screen_text import screen_text
    from tlsrpt_tui.ui.screens.records import RecordsScreen
    from tlsrpt_tui.ui.widgets.status_panel import DomainCard

    checks = CheckSettings(resolver=world.dns.resolver, ca_file=world.tls.ca_file,
                           timeout=TIMEOUT, allow_private_targets=True)
    config = Config(domains=("recgood.test", "recfix.test"), checks=checks)
    key = world.tls.good_spki_sha256.hex()
    with Store(tmp_path / "ui.sqlite3") as store:
        app = TlsrptApp(StoreBackend(store), config, live=False)
        async with app.run_test(size=(160, 60)) as pilot:
            await pilot.pause()
            cards = list(app.screen.query(DomainCard))
            cards[1].focus()  # recfix.test
            await pilot.press("D")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, RecordsScreen)
            text = re.sub(r"\s+", " ", screen_text(app))
            assert "Records to publish · recfix.test" in text
            assert "MTA-STS policy file https://mta-sts.recfix.test/.well-known/mta-sts.txt: " \
                   "change" in text
            assert "differs: mx added: mx2.recfix.test (not covered now)" in text
            assert f"_25._tcp.mx2.recfix.test. 3600 IN TLSA 3 1 1 {key}" in text
            # m: propose enforce instead (the live check runs again)
            await pilot.press("m")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = re.sub(r"\s+", " ", screen_text(app))
            assert "Records to publish · recfix.test · mode enforce" in text
            assert "differs: mode testing → enforce" in text
