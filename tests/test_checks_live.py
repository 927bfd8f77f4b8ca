"""Live checks against real peers: Knot (signed zones) + Unbound (validating) + TLS peers.

One zone matrix covers the cases of issue 3; each case asserts the exact set of finding codes.
The zones are built from the ``tls_peers`` fixture's addresses (chosen at start), the product
trusts the test CA through its normal ``ca_file`` option and asks Unbound like any resolver.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
from peers.dns import DnsPeers, Zone, dns_peers_factory  # noqa: F401  (session fixture)
from peers.tls import TlsPeers

from tlsrpt_tui.service.checks import CheckOptions, DomainStatus, changes, check_domain
from tlsrpt_tui.service.checks import check_domains as run_checks

pytestmark = pytest.mark.peers

TIMEOUT = 5.0  # a healthy peer answers well within it even at load 9 on 2 cores
GOOD_POLICY = "version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 604800\n"
OTHER_DIGEST = "ab" * 32


@dataclass
class Case:
    """One test domain: its records, its policy and the exact codes expected."""

    name: str
    expected: set[str]
    tlsrpt: list[str] | None = None  # None = the good record
    sts: list[str] | None = None  # None = the good record
    policy: dict | None = None  # kwargs for set_policy; None = good policy for the MX set
    mx: list[tuple[str, str | None, list[str] | None]] | None = None  # (host, peer, tlsa)
    extra: list[str] = field(default_factory=list)  # more zone lines
    zone: str = "test"  # the zone the domain lives in (insecure.test: an unsigned one)

    @property
    def domain(self) -> str:
        return f"{self.name}.{self.zone}"


GOOD = {"tlsrpt.ok", "sts.record.ok", "sts.policy.ok", "mx.ok", "dane.ok", "tls.ok"}


def _good_tlsa(peers: TlsPeers) -> list[str]:
    return [f"3 1 1 {peers.good_spki_sha256.hex()}", f"3 1 1 {OTHER_DIGEST}"]


def cases(peers: TlsPeers) -> list[Case]:
    good_tlsa = _good_tlsa(peers)
    no_sts = ["v=spf1 -all"]
    out = [
        Case("good", GOOD),
        Case("notlsrpt", (GOOD - {"tlsrpt.ok"}) | {"tlsrpt.missing"}, tlsrpt=[]),
        Case(
            "tworpt",
            (GOOD - {"tlsrpt.ok"}) | {"tlsrpt.multiple"},
            tlsrpt=["v=TLSRPTv1; rua=mailto:a@tworpt.test", "v=TLSRPTv1; rua=mailto:b@tworpt.test"],
        ),
        Case(
            "badrua",
            (GOOD - {"tlsrpt.ok"}) | {"tlsrpt.bad-uri"},
            tlsrpt=["v=TLSRPTv1; rua=mailto:tlsrpt@badrua.test!10m"],
        ),
        Case(
            "badid",
            GOOD - {"sts.record.ok", "sts.policy.ok"} | {"sts.record.bad-id"},
            sts=["v=STSv1; id=2026-11-28"],
        ),
        Case(
            "p404",
            (GOOD - {"sts.policy.ok"}) | {"sts.policy.fetch-error"},
            policy={"status": 404, "body": "not here\n"},
        ),
        Case(
            "predirect",
            (GOOD - {"sts.policy.ok"}) | {"sts.policy.redirect"},
            policy={"status": 301, "location": "https://good.test/.well-known/mta-sts.txt"},
        ),
        Case(
            "plarge",
            (GOOD - {"sts.policy.ok"}) | {"sts.policy.too-large"},
            policy={"body": GOOD_POLICY.format(mx="mx1.plarge.test"), "size": 70000},
        ),
        Case(
            "pctype",
            GOOD | {"sts.policy.content-type"},
            policy={"body": GOOD_POLICY.format(mx="mx1.pctype.test"), "content_type": "text/html"},
        ),
        Case(
            "pinvalid",
            (GOOD - {"sts.policy.ok"}) | {"sts.policy.invalid"},
            policy={"body": "version: STSv1\nmode: strict\nmx: mx1.pinvalid.test\nmax_age: x\n"},
        ),
        Case(
            "pipmx",
            (GOOD - {"sts.policy.ok"}) | {"sts.policy.mx-pattern"},
            policy={"body": "version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 604800\n"},
        ),
        Case(
            "pexpired",
            (GOOD - {"sts.policy.ok"}) | {"sts.policy.webpki"},
            policy={"body": GOOD_POLICY.format(mx="mx1.pexpired.test"), "cert": "expired"},
        ),
        Case(
            "pwrongname",
            (GOOD - {"sts.policy.ok"}) | {"sts.policy.webpki"},
            policy={"body": GOOD_POLICY.format(mx="mx1.pwrongname.test"), "cert": "wrong-name"},
        ),
        Case(
            "uncovered",
            GOOD | {"sts.policy.mx-uncovered", "dane.none"},
            mx=[("mx1.uncovered.test", "good", good_tlsa), ("mx2.uncovered.test", "good", None)],
            policy={"body": GOOD_POLICY.format(mx="mx1.uncovered.test")},
        ),
        Case(
            "wildcard",
            GOOD | {"sts.policy.mx-uncovered", "dane.none"},
            mx=[("mx1.wildcard.test", "good", good_tlsa), ("a.b.wildcard.test", "good", None)],
            policy={"body": GOOD_POLICY.format(mx="*.wildcard.test")},
        ),
        Case(
            "tlsamismatch",
            (GOOD - {"dane.ok"}) | {"dane.mismatch"},
            mx=[("mx1.tlsamismatch.test", "good", [f"3 1 1 {OTHER_DIGEST}", "3 1 1 " + "cd" * 32])],
        ),
        Case(
            "pkix",
            GOOD | {"dane.pkix-usage"},
            mx=[("mx1.pkix.test", "good", [*good_tlsa, f"1 1 1 {OTHER_DIGEST}"])],
        ),
        Case(
            "unusable",
            (GOOD - {"dane.ok"}) | {"dane.unusable"},
            mx=[("mx1.unusable.test", "good", [f"3 1 5 {OTHER_DIGEST}"])],
        ),
        Case(
            "insec",
            (GOOD - {"dane.ok"}) | {"dane.insecure"},
            mx=[("mx.insecure.test", "good", good_tlsa)],
        ),
        Case(
            "bogusmx",
            # the host's own addresses are bogus: mx.lookup-failed; no DANE verdict beside it
            GOOD - {"mx.ok", "dane.ok", "tls.ok"} | {"mx.lookup-failed"},
            mx=[("mx.bogus.test", "good", good_tlsa)],
        ),
        Case(
            "nostarttls",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.none", "tls.no-starttls"},
            sts=no_sts,
            mx=[("mx1.nostarttls.test", "no-starttls", None)],
        ),
        Case(
            "mxexpired",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.none", "tls.expired"},
            sts=no_sts,
            mx=[("mx1.mxexpired.test", "expired", None)],
        ),
        Case(
            "mxwrongname",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.none", "tls.host-mismatch"},
            sts=no_sts,
            mx=[("mx1.mxwrongname.test", "wrong-name", None)],
        ),
        Case(
            "mxselfsigned",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.none", "tls.untrusted"},
            sts=no_sts,
            mx=[("mx1.mxselfsigned.test", "self-signed", None)],
        ),
        Case(
            "stscname",
            GOOD,
            sts=[],
            extra=['_mta-sts.stscname.test. CNAME _mta-sts.good.test.'],
        ),
        Case(
            # no MX: the domain is its own implicit MX (RFC 5321 §5.1), checked like one
            "nomx",
            {"tlsrpt.ok", "sts.record.missing", "mx.none", "dane.ok", "tls.ok"},
            sts=no_sts,
            mx=[],
            extra=[f"nomx.test. A {peers.smtp['good']}"]
            + [f"_25._tcp.nomx.test. TLSA {rec}" for rec in good_tlsa],
        ),
        Case(
            # a private CA's leaf as trustme issues it (critical SAN beside a non-empty
            # subject) on the MX and the policy host: both verifiers trust it, as MTAs do
            "trustme",
            GOOD - {"dane.ok"} | {"dane.none"},
            mx=[("mx1.trustme.test", "trustme", None)],
            policy={"body": GOOD_POLICY.format(mx="mx1.trustme.test"), "cert": "trustme"},
        ),
        Case(
            # unsigned zone whose MX points into a signed zone with secure, matching TLSA:
            # the MX RRset is insecure, so no DANE sender uses them (RFC 7672 §2.2.1)
            "mxins",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.mx-insecure", "tls.ok"},
            zone="insecure.test",
            sts=no_sts,
            mx=[("mx1.mxins.test", "good", good_tlsa)],
        ),
        Case(
            # signed zone, MX host is a CNAME into an unsigned zone: its address is insecure
            "cnameins",
            {"tlsrpt.ok", "sts.record.missing", "mx.cname", "dane.address-insecure", "tls.ok"},
            sts=no_sts,
            mx=[("mx1.cnameins.test", None, good_tlsa)],
            extra=[
                "mx1.cnameins.test. CNAME host.cnameins.insecure.test.",
                f"host.cnameins.insecure.test. A {peers.smtp['good']}",
            ],
        ),
        Case(
            # secure addresses, TLSA name in a bogus zone: DANE senders defer → dane.bogus
            "tlsabogus",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.bogus", "tls.ok"},
            sts=no_sts,
            mx=[("mx1.tlsabogus.test", "good", good_tlsa)],
        ),
        Case(
            # nothing listens at its MX: in a run where other MX answer, it is unreachable;
            # alone (test_port25_blocked) it looks like this host's port 25 is blocked
            "blk1",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.no-rollover", "tls.unreachable"},
            sts=no_sts,
            mx=[("mx1.blk1.test", "refused", [good_tlsa[0]])],
        ),
        Case(
            "blk2",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.none", "tls.unreachable"},
            sts=no_sts,
            mx=[("mx1.blk2.test", "refused", None), ("mx2.blk2.test", "refused", None)],
        ),
        Case(
            # an IDN domain: the config may spell it bücher.test (test_idn_config_domain)
            "xn--bcher-kva",
            GOOD,
        ),
        Case(
            "mxsilent",
            {"tlsrpt.ok", "sts.record.missing", "mx.ok", "dane.none", "tls.unreachable"},
            sts=no_sts,
            mx=[("mx1.mxsilent.test", "silent", None)],
        ),
    ]
    return out


#: The matrix's zones: the signed top, an unsigned child, a bogus child, and a bogus zone that
#: holds only a TLSA name (its host's addresses stay in the secure top zone).
ZONES = ("test.", "insecure.test.", "bogus.test.", "_tcp.mx1.tlsabogus.test.")


def zone_of(line: str) -> str:
    """The zone of ``ZONES`` a zone-file line (absolute owner name) belongs in: the longest
    suffix of its owner."""
    owner = line.split(None, 1)[0]
    return max((z for z in ZONES if owner == z or owner.endswith("." + z)), key=len)


def _zone_lines(case: Case, peers: TlsPeers) -> list[str]:
    """Zone-file lines (absolute owner names) of one case; ``zone_of`` places them."""
    d = case.domain
    lines: list[str] = []
    tlsrpt = case.tlsrpt if case.tlsrpt is not None else [f"v=TLSRPTv1; rua=mailto:tlsrpt@{d}"]
    sts = case.sts if case.sts is not None else ["v=STSv1; id=20261128"]
    for txt in tlsrpt:
        lines.append(f'_smtp._tls.{d}. TXT "{txt}"')
    for txt in sts:
        lines.append(f'_mta-sts.{d}. TXT "{txt}"')
    lines.append(f"mta-sts.{d}. A {peers.https_address}")
    mx = case.mx if case.mx is not None else [(f"mx1.{d}", "good", _good_tlsa(peers))]
    for i, (host, peer, tlsa) in enumerate(mx):
        lines.append(f"{d}. MX {10 * (i + 1)} {host}.")
        if peer is not None:  # None: the case's extra lines give the host's addresses
            lines.append(f"{host}. A {peers.smtp[peer]}")
        for rec in tlsa or []:
            lines.append(f"_25._tcp.{host}. TLSA {rec}")
    lines.extend(case.extra)
    return lines


@dataclass
class World:
    dns: DnsPeers
    tls: TlsPeers
    cases: dict[str, Case]

    def options(self, **kw) -> CheckOptions:
        return CheckOptions(
            resolver=self.dns.resolver,
            ca_file=self.tls.ca_file,
            timeout=TIMEOUT,
            allow_private_targets=True,
            **kw,
        )


def cli_check(
    world: World, tmp_path: Path, *args: str, resolver: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``tlsrpt-tui check ARGS --no-store`` against the matrix's peers, private targets allowed
    through the normal config option (the peers live on loopback)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text("[checks]\nallow_private_targets = true\n")
    argv = [
        sys.executable, "-m", "tlsrpt_tui", "check", "--config", str(cfg), "--no-store", *args,
        "--resolver", resolver or world.dns.resolver, "--ca-file", world.tls.ca_file,
        "--timeout", str(TIMEOUT),
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def world(tls_peers: TlsPeers, dns_peers_factory) -> Iterator[World]:  # noqa: F811
    all_cases = cases(tls_peers)
    zones: dict[str, list[str]] = {z: [] for z in ZONES}
    for case in all_cases:
        for line in _zone_lines(case, tls_peers):
            zones[zone_of(line)].append(line)
        mx_hosts = [h for h, _, _ in case.mx] if case.mx else [f"mx1.{case.domain}"]
        policy = case.policy or {"body": GOOD_POLICY.format(mx=mx_hosts[0])}
        tls_peers.set_policy(f"mta-sts.{case.domain}", **policy)
    # dead.test: a dead MX (never greets) and a dead policy host (accepts, never answers TLS).
    dead_policy = socket.socket()
    dead_policy.bind((tls_peers.block + ".200", 443))
    dead_policy.listen(64)
    top = zones["test."]
    top += [
        '_mta-sts.dead.test. TXT "v=STSv1; id=1"',
        f"mta-sts.dead.test. A {tls_peers.block}.200",
        "dead.test. MX 10 mx.dead.test.",
        f"mx.dead.test. A {tls_peers.smtp['silent']}",
    ]
    big = " ".join(f'"{i:03d}{"x" * 200}"' for i in range(10))  # > 1232 bytes: TCP fallback
    top.append(f"big.test. TXT {big}")
    dns = dns_peers_factory(
        [
            Zone("test.", "\n".join(top)),
            Zone("insecure.test.", "\n".join(zones["insecure.test."]), signed=False),
            Zone("bogus.test.", "\n".join(zones["bogus.test."]), bogus=True),
            Zone(ZONES[3], "\n".join(zones[ZONES[3]]), bogus=True),
        ]
    )
    yield World(dns, tls_peers, {c.name: c for c in all_cases})
    dead_policy.close()


@pytest.fixture(scope="module")
def results(world: World) -> dict[str, DomainStatus]:
    domains = [c.domain for c in world.cases.values()]
    out = asyncio.run(run_checks(domains, world.options()))
    return {r.domain: r for r in out}


def _case_names() -> list[str]:
    class _Fake:  # only the names are needed at collection time
        good_spki_sha256 = b"\0" * 32
        smtp: ClassVar[dict[str, str]] = {"good": "127.0.0.1"}

    return [c.name for c in cases(_Fake())]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", _case_names())
def test_zone_matrix(name: str, world: World, results: dict[str, DomainStatus]) -> None:
    case = world.cases[name]
    status = results[case.domain]
    got = {f.code for f in status.findings}
    detail = "\n".join(f"{f.code} {f.subject}: {f.message}" for f in status.findings)
    assert got == case.expected, detail
    errors = any(f.severity == "error" for f in status.findings)
    assert (status.status == "error") == errors


def test_wildcard_covers_exactly_one_label(results: dict[str, DomainStatus]) -> None:
    status = results["wildcard.test"]
    uncovered = [f.subject for f in status.findings if f.code == "sts.policy.mx-uncovered"]
    assert len(uncovered) == 1 and "a.b.wildcard.test" in uncovered[0]


def test_records_hold_raw_values(results: dict[str, DomainStatus], world: World) -> None:
    rec = results["good.test"].records
    assert rec["tlsrpt"] == ["v=TLSRPTv1; rua=mailto:tlsrpt@good.test"]
    assert rec["sts"] == ["v=STSv1; id=20261128"] and rec["sts_id"] == "20261128"
    assert rec["mx"] == ["10 mx1.good.test"]
    assert rec["addresses"]["mx1.good.test"] == [world.tls.smtp["good"]]
    assert rec["tlsa"]["mx1.good.test"]["state"] == "secure"
    assert "mode: enforce" in rec["policy"]
    probe = rec["probe"]["mx1.good.test"][world.tls.smtp["good"]]
    assert probe["spki_sha256"] == world.tls.good_spki_sha256.hex()
    bogus = results["bogusmx.test"].records["tlsa"]["mx.bogus.test"]
    assert bogus["state"] == "bogus"


def test_dead_mx_and_dead_policy_cost_one_timeout(world: World) -> None:
    started = time.monotonic()
    status = asyncio.run(check_domain("dead.test", world.options()))
    elapsed = time.monotonic() - started
    got = {f.code for f in status.findings}
    assert {"sts.policy.fetch-error", "tls.unreachable"} <= got
    assert elapsed < 1.6 * TIMEOUT, f"{elapsed:.2f} s: the dead steps ran one after the other"


def test_policy_id_unchanged_and_changes(world: World) -> None:
    world.tls.set_policy("mta-sts.idsame.test", body=GOOD_POLICY.format(mx="mx1.good.test"))
    first = asyncio.run(check_domain("good.test", world.options(probe=False)))
    # Same id, different body: the previous result carries another policy text.
    prev = first.to_json()
    prev["records"]["policy"] = prev["records"]["policy"].replace("604800", "86400")
    second = asyncio.run(check_domain("good.test", world.options(probe=False), previous=prev))
    assert "sts.policy.id-unchanged" in second.codes
    assert "sts.policy.id-unchanged" not in first.codes
    # A new id with a new body is fine.
    prev["records"]["sts_id"] = "older"
    third = asyncio.run(check_domain("good.test", world.options(probe=False), previous=prev))
    assert "sts.policy.id-unchanged" not in third.codes
    lines = changes(first, second)
    assert "new: sts.policy.id-unchanged (_mta-sts.good.test)" in lines
    assert "status ok → warning" in lines
    assert changes(None, second) == []
    assert DomainStatus.from_json(second.to_json()).to_json() == second.to_json()


def test_cli_check_json(world: World, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[checks]\nallow_private_targets = true\n")
    db = tmp_path / "store.sqlite3"
    # --db/--config after the subcommand: the subparser's own defaults would override them.
    base = [sys.executable, "-m", "tlsrpt_tui", "check", "--config", str(cfg), "--db", str(db)]
    argv = [
        *base, "good.test", "--format", "json", "--resolver", world.dns.resolver,
        "--ca-file", world.tls.ca_file, "--timeout", str(TIMEOUT),
    ]  # fmt: skip
    env = {**os.environ, "TLSRPT_TUI_CONFIG": str(cfg), "TLSRPT_TUI_DB": str(db)}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [d["domain"] for d in data] == ["good.test"]
    assert {f["code"] for f in data[0]["findings"]} == GOOD
    assert data[0]["status"] == "ok"
    assert set(data[0]) == {"domain", "checked_at", "status", "records", "findings"}
    # Stored: a second run sees the first as "previous".
    from tlsrpt_tui.store import checks as check_store
    from tlsrpt_tui.store.database import Store

    with Store(db) as store:
        assert check_store.latest(store, "good.test")["status"] == "ok"
    # An error finding → exit 1; a bad domain → exit 2 naming it.
    bad = subprocess.run(
        [*base, "mxexpired.test", "--resolver", world.dns.resolver,
         "--ca-file", world.tls.ca_file, "--timeout", str(TIMEOUT)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert bad.returncode == 1, bad.stderr
    assert "tls.expired" in bad.stdout
    usage = subprocess.run(
        [*base, "bad..name", "--resolver", world.dns.resolver],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert usage.returncode == 2 and "bad..name" in usage.stderr


def test_cname_at_mta_sts_is_followed(results: dict[str, DomainStatus]) -> None:
    rec = results["stscname.test"].records
    assert rec["sts_cname"] == ["_mta-sts.good.test"]
    assert rec["sts_id"] == "20261128"


def test_resolver_outcomes(world: World) -> None:
    """Answer (secure or not), Missing (secure denial) and Failed are told apart; big → TCP."""
    from tlsrpt_tui.net.dns import Answer, Failed, Missing, Resolver

    async def go() -> list:
        res = Resolver(world.dns.resolver, timeout=TIMEOUT)
        return await asyncio.gather(
            res.lookup("big.test", "TXT"),
            res.lookup("nothing-here.test", "TXT"),
            res.lookup("good.test", "AAAA"),
            res.lookup("_25._tcp.mx.insecure.test", "TLSA"),
            res.lookup("mx.bogus.test", "A"),
            Resolver(f"{world.tls.smtp['refused']}:53", timeout=0.5).lookup("good.test", "A"),
        )

    big, nx, nodata, insecure, bogus, dead = asyncio.run(go())
    assert isinstance(big, Answer) and big.secure
    assert big.texts[0].startswith("000x") and len(big.texts[0]) == 10 * 203
    assert isinstance(nx, Missing) and nx.nxdomain and nx.secure
    assert isinstance(nodata, Missing) and not nodata.nxdomain and nodata.secure
    assert isinstance(insecure, Answer) and not insecure.secure
    assert isinstance(bogus, Failed) and bogus.reason == "servfail"
    assert isinstance(dead, Failed)
    assert dead.reason == "timeout" or dead.reason.startswith("network:")


def test_check_is_cancellable(world: World) -> None:
    """Cancelling a check stops every step at once (the dead domain would take a timeout)."""

    async def go() -> float:
        task = asyncio.create_task(check_domain("dead.test", world.options()))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(go()) < 0.75 * TIMEOUT  # the dead steps would need a whole timeout


def test_resolver_that_does_not_validate(world: World) -> None:
    """A second Unbound without the validator: one dns.resolver-not-validating, and DANE items
    read "unknown" (never dane.insecure or dane.ok) although the zones are signed."""
    plain = world.dns.start_plain_resolver()
    domains = ["good.test", "insec.test", "nomx.test", "uncovered.test"]
    opts = CheckOptions(
        resolver=plain, ca_file=world.tls.ca_file, timeout=TIMEOUT, allow_private_targets=True
    )
    out = asyncio.run(run_checks(domains, opts))
    for status in out:
        got = [f.code for f in status.findings]
        detail = "\n".join(f"{f.code} {f.subject}: {f.message}" for f in status.findings)
        assert got.count("dns.resolver-not-validating") == 1, detail
        assert not {"dane.insecure", "dane.ok", "dane.mx-insecure", "dane.mismatch"} & set(got)
        states = {h: t["state"] for h, t in status.records["tlsa"].items()}
        assert "unknown" in states.values(), states
        assert "tls.ok" in got, detail  # the probe still judges the certificate
    (note,) = [f for f in out[0].findings if f.code == "dns.resolver-not-validating"]
    assert note.subject == plain and note.severity == "warning" and "resolver" in note.hint
    # uncovered.test's second MX has no TLSA: that verdict does not need DNSSEC
    assert out[3].records["tlsa"]["mx2.uncovered.test"]["state"] == "none"
    # The validating resolver of the matrix never raises it.
    assert all(
        "dns.resolver-not-validating" not in {f.code for f in r.findings}
        for r in asyncio.run(run_checks(domains, world.options()))
    )


def test_cli_says_the_resolver_warning_once(world: World, tmp_path: Path) -> None:
    plain = world.dns.start_plain_resolver()
    text = cli_check(world, tmp_path, "good.test", "insec.test", resolver=plain)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert out.startswith("this host\n") and out.count("dns.resolver-not-validating") == 1
    assert "fix: set [checks] resolver" in out
    assert "? DANE mx1.good.test: unknown" in out and "? DANE mx.insecure.test: unknown" in out
    assert "dane.insecure" not in out and "dane.ok" not in out
    as_json = cli_check(world, tmp_path, "good.test", "insec.test", "--format", "json",
                        resolver=plain)  # fmt: skip
    data = json.loads(as_json.stdout)
    assert all("dns.resolver-not-validating" in {f["code"] for f in d["findings"]} for d in data)


def test_port25_blocked(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every MX of every checked domain refuses TCP on port 25: one tls.probe-blocked per
    result (subject "this host"), no tls.unreachable, STARTTLS items "not checked"."""
    from tlsrpt_tui.service import checks

    monkeypatch.setattr(checks.PORT25, "last_open", None)  # the matrix's probes connected
    out = asyncio.run(run_checks(["blk1.test", "blk2.test"], world.options()))
    for status in out:
        got = [f.code for f in status.findings]
        assert got.count("tls.probe-blocked") == 1 and "tls.unreachable" not in got, got
        (f,) = [f for f in status.findings if f.code == "tls.probe-blocked"]
        assert f.subject == "this host" and f.severity == "warning"
        assert status.status == "warning"
    assert out[0].records["starttls"] == {"mx1.blk1.test": {"state": "not checked"}}
    assert out[0].records["tlsa"]["mx1.blk1.test"]["match"] == "not checked"
    assert set(out[1].records["starttls"]) == {"mx1.blk2.test", "mx2.blk2.test"}
    # One domain checked alone: its MX are all the evidence there is.
    alone = asyncio.run(check_domain("blk2.test", world.options()))
    assert "tls.probe-blocked" in alone.codes and "tls.unreachable" not in alone.codes
    # With an MX that answers in the same run, a refusing MX is unreachable, not "blocked".
    mixed = asyncio.run(run_checks(["blk1.test", "good.test"], world.options()))
    assert "tls.unreachable" in mixed[0].codes
    assert not any("tls.probe-blocked" in r.codes for r in mixed)
    # And for a while after (the TUI checks one domain at a time): good.test's MX answered.
    later = asyncio.run(check_domain("blk2.test", world.options()))
    assert "tls.unreachable" in later.codes and "tls.probe-blocked" not in later.codes
    monkeypatch.setattr(checks.PORT25, "last_open", None)
    # The CLI (a process of its own) says it once, above the domains; hosts read "not checked".
    proc = cli_check(world, tmp_path, "blk1.test", "blk2.test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("this host\n") and proc.stdout.count("tls.probe-blocked") == 1
    assert "? STARTTLS mx2.blk2.test: not checked" in proc.stdout
    assert "? DANE mx1.blk1.test: match not checked" in proc.stdout


def test_probe_obeys_allow_private_targets(world: World) -> None:
    """Without allow_private_targets (the default), the loopback MX is refused before any
    connection, as the policy fetch refuses its host; the normal config option allows it."""
    opts = CheckOptions(resolver=world.dns.resolver, ca_file=world.tls.ca_file, timeout=TIMEOUT)
    status = asyncio.run(check_domain("mxexpired.test", opts))
    (f,) = [f for f in status.findings if f.code == "tls.unreachable"]
    assert "refused to connect" in f.message and "allow_private_targets" in f.message
    assert "tls.expired" not in status.codes and "tls.probe-blocked" not in status.codes
    probe = status.records["probe"]["mx1.mxexpired.test"]
    assert not any(p["attempted"] for p in probe.values())


def test_nxdomain_is_one_finding(world: World) -> None:
    """A domain that does not exist (a typo) gets one dns.nxdomain, not "no MX, no TLS-RPT…"."""
    out = asyncio.run(run_checks(["nosuchdomain.test", "good.test"], world.options()))
    assert [f.code for f in out[0].findings] == ["dns.nxdomain"]
    assert out[0].status == "error" and out[0].findings[0].subject == "nosuchdomain.test"
    assert {f.code for f in out[1].findings} == GOOD


def test_idn_config_domain(world: World, tmp_path: Path) -> None:
    """A config domain written with U-labels is checked, stored and found under its A-labels."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('domains = ["Bücher.test."]\n[checks]\nallow_private_targets = true\n')
    db = tmp_path / "store.sqlite3"
    env = {**os.environ, "TLSRPT_TUI_CONFIG": str(cfg), "TLSRPT_TUI_DB": str(db)}
    opts = ["--resolver", world.dns.resolver, "--ca-file", world.tls.ca_file,
            "--timeout", str(TIMEOUT)]
    base = [sys.executable, "-m", "tlsrpt_tui"]
    for _ in range(2):
        proc = subprocess.run(
            [*base, "check", "--config", str(cfg), "--db", str(db), "--format", "json", *opts],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        (data,) = json.loads(proc.stdout)
        assert data["domain"] == "xn--bcher-kva.test" and data["status"] == "ok"
    status = subprocess.run(
        [*base, "status", "--config", str(cfg), "--db", str(db)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("xn--bcher-kva.test  OK")
