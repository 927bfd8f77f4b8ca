"""Real DNS peers on loopback: Knot (authoritative, DNSSEC-signing) behind Unbound (validating).

``DnsPeers(tmp, zones).start()`` writes the zone files and a Knot config into ``tmp``, starts
``knotd -c`` in the foreground on a random high port of 127.0.0.1 with automatic keys
(``dnssec-signing: on``, ECDSA P-256, NSEC), waits until every signed zone serves its DNSKEY,
reads the top zone's DS with ``keymgr`` and starts ``unbound -d -c`` (validating, that DS as its
only trust anchor, a ``stub-zone`` per zone pointing at Knot, ``local-zone: "test." nodefault``,
no ``domain-insecure``, ``val-permissive-mode: no``) on another port. The product then uses
``peers.resolver`` ("127.0.0.1:PORT") like any resolver.

The first zone is the top (it must be ``test.`` or under it); the others are its children.
Knot hosts them all and answers DS queries from the parent, so the chain of trust is real:
- ``Zone(name, body)``: signed child; the parent gets NS and, once Knot made the child's keys,
  its DS (the parent is rewritten and reloaded with ``knotc``): a secure delegation;
- ``Zone(name, body, signed=False)``: unsigned child delegated without DS → answers are insecure;
- ``Zone(name, body, bogus=True)``: signed child whose parent holds a DS that matches no key →
  the validating resolver answers SERVFAIL (bogus) for every name in it.
A peer that cannot start raises :class:`RuntimeError` (tests fail, never skip).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import pytest

STARTUP_TIMEOUT = 20.0
_BOGUS_DS = "12345 13 2 " + "00" * 32


@dataclass
class Zone:
    name: str  # absolute, e.g. "test." or "bogus.test."
    body: str  # zone file lines after the SOA/NS (relative or absolute owner names)
    signed: bool = True
    bogus: bool = False

    @property
    def fqdn(self) -> str:
        return self.name if self.name.endswith(".") else self.name + "."


def free_port() -> int:
    """A random high port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        with contextlib.ExitStack() as stack:
            try:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = stack.enter_context(socket.socket(socket.AF_INET, kind))
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for the DNS peers")


class DnsPeers:
    """Knot + Unbound for a set of zones; see the module docstring."""

    def __init__(self, tmp: Path, zones: list[Zone], *, cache: bool = True,
                 log_queries: bool = False) -> None:
        """``log_queries``: Unbound logs every query a client sends it (``queries()``)."""
        if not zones:
            raise ValueError("DnsPeers needs at least the top zone")
        self.tmp = Path(tmp)
        self.zones = zones
        self.cache = cache
        self.log_queries = log_queries
        self._by_name: dict[str, Zone] | None = None
        self._children_of: dict[str, list[Zone]] | None = None
        self.knot_port = 0
        self.unbound_port = 0
        self.top_ds: list[str] = []
        self._plain = ""  # the non-validating resolver, once started
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def resolver(self) -> str:
        return f"127.0.0.1:{self.unbound_port}"

    @property
    def knot(self) -> str:
        return f"127.0.0.1:{self.knot_port}"

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> DnsPeers:
        for tool in ("knotd", "keymgr", "unbound"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (Debian packages knot, unbound)")
        try:
            self._start_knot()
            self._start_unbound()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._procs:
            proc = self._procs.pop()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def __enter__(self) -> DnsPeers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def update_zone(self, name: str, body: str) -> None:
        """Give a zone new records (serial bumped) and reload it in Knot, which re-signs it;
        returns once Knot serves the new serial. (For a zone without children: the DS lines a
        parent got at start are not rewritten here.)"""
        zone = next(z for z in self.zones if z.fqdn == Zone(name, "").fqdn)
        zone.body = body
        self._serial = getattr(self, "_serial", 10) + 1
        kdir = self.tmp / "knot"
        text = self._zone_text(zone).replace(" 1 3600 600 86400 60",
                                             f" {self._serial} 3600 600 86400 60")
        (kdir / "zones" / f"{zone.fqdn}zone").write_text(text)
        out = subprocess.run(
            ["knotc", "-c", str(kdir / "knot.conf"), "zone-reload", zone.fqdn],
            capture_output=True, text=True, timeout=30,
        )
        if out.returncode != 0:
            raise RuntimeError(f"knotc zone-reload {zone.fqdn}: {out.stderr or out.stdout}")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            q = dns.message.make_query(zone.fqdn, dns.rdatatype.SOA)
            with contextlib.suppress(OSError, dns.exception.DNSException):
                r = dns.query.udp(q, "127.0.0.1", port=self.knot_port, timeout=0.5)
                soa = r.get_rrset(r.answer, q.question[0].name, 1, dns.rdatatype.SOA)
                if soa is not None and soa[0].serial >= self._serial:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"knotd did not serve serial {self._serial} of {zone.fqdn}")
            time.sleep(0.05)

    # -- Knot ----------------------------------------------------------------------------
    def _zone_text(self, zone: Zone) -> str:
        lines = [
            "$TTL 300",
            f"$ORIGIN {zone.fqdn}",
            f"@ SOA ns.{self.zones[0].fqdn} hostmaster.{self.zones[0].fqdn} 1 3600 600 86400 60",
            f"@ NS ns.{self.zones[0].fqdn}",
        ]
        if zone is self.zones[0]:
            lines.append("ns A 127.0.0.1")
        for child in self._children().get(zone.fqdn, []):
            lines.append(f"{child.fqdn} NS ns.{self.zones[0].fqdn}")
            if child.bogus:
                lines.append(f"{child.fqdn} DS {_BOGUS_DS}")
        lines.append(zone.body)
        return "\n".join(lines) + "\n"

    def _children(self) -> dict[str, list[Zone]]:
        """parent fqdn -> its child zones, worked out once (the zone list never changes after
        the constructor; a bench has 1,000 zones, and pairwise searches made it hang)."""
        if self._children_of is None:
            found: dict[str, list[Zone]] = {}
            for child in self.zones[1:]:
                parent = self._parent(child)
                if parent is not None:
                    found.setdefault(parent.fqdn, []).append(child)
            self._children_of = found
        return self._children_of

    def _parent(self, child: Zone) -> Zone | None:
        """The zone with the longest name that is a suffix of the child's: a look-up per label."""
        if self._by_name is None:
            self._by_name = {z.fqdn: z for z in self.zones}
        labels = child.fqdn.split(".")
        for i in range(1, len(labels)):
            parent = self._by_name.get(".".join(labels[i:]))
            if parent is not None and parent is not child:
                return parent
        return None

    def _start_knot(self) -> None:
        kdir = self.tmp / "knot"
        (kdir / "zones").mkdir(parents=True, exist_ok=True)
        (kdir / "db").mkdir(exist_ok=True)
        for zone in self.zones:
            (kdir / "zones" / f"{zone.fqdn}zone").write_text(self._zone_text(zone))
        zone_conf = []
        for zone in self.zones:
            zone_conf.append(f"  - domain: {zone.fqdn}")
            if zone.signed:
                zone_conf += ["    dnssec-signing: on", "    dnssec-policy: auto"]
        last_error = ""
        for _ in range(5):
            self.knot_port = free_port()
            conf = kdir / "knot.conf"
            conf.write_text(
                "\n".join(
                    [
                        "server:",
                        f"    listen: 127.0.0.1@{self.knot_port}",
                        f"    rundir: {kdir}",
                        f"    pidfile: {kdir}/knot.pid",
                        "log:",
                        "  - target: stderr",
                        "    any: info",
                        "database:",
                        f"    storage: {kdir}/db",
                        "control:",
                        f"    listen: {kdir}/knot.sock",
                        "policy:",
                        "  - id: auto",
                        "    algorithm: ecdsap256sha256",
                        "    single-type-signing: on",
                        "template:",
                        "  - id: default",
                        f"    storage: {kdir}/zones",
                        '    file: "%s.zone"',
                        "    zonefile-sync: -1",
                        "    journal-content: none",
                        "zone:",
                        *zone_conf,
                        "",
                    ]
                )
            )
            log = (kdir / "knotd.log").open("wb")
            proc = subprocess.Popen(
                ["knotd", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
            self._procs.append(proc)
            try:
                self._wait_knot(proc)
                break
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
        else:
            raise RuntimeError(f"Knot did not start: {last_error}")
        self._publish_child_ds(kdir)
        out = subprocess.run(
            ["keymgr", "-c", str(kdir / "knot.conf"), self.zones[0].fqdn, "ds"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.top_ds = [
            line.split(" DS ", 1)[1].strip()
            for line in out.stdout.splitlines()
            if " DS " in line and " 2 " in line.split(" DS ", 1)[1][:12]
        ]
        if out.returncode != 0 or not self.top_ds:
            raise RuntimeError(f"keymgr ds failed: {out.stderr.strip() or out.stdout.strip()}")

    def _publish_child_ds(self, kdir: Path) -> None:
        """Secure delegations: put each signed child's DS (from its served DNSKEY) in its parent.

        Knot made the keys at load time, so the parents are rewritten with the DS records and
        reloaded (``knotc zone-reload``); then we wait until every DS is served.
        """
        children = [
            z for z in self.zones[1:] if z.signed and not z.bogus and self._parent(z) is not None
        ]
        if not children:
            return
        extra: dict[str, list[str]] = {}
        for child in children:
            q = dns.message.make_query(child.fqdn, dns.rdatatype.DNSKEY)
            r = dns.query.tcp(q, "127.0.0.1", port=self.knot_port, timeout=5)
            keys = r.get_rrset(r.answer, dns.name.from_text(child.fqdn), 1, dns.rdatatype.DNSKEY)
            if keys is None:
                raise RuntimeError(f"knotd serves no DNSKEY for {child.fqdn}")
            for key in keys:
                if key.flags & 1:  # SEP: the key the DS points at
                    ds = dns.dnssec.make_ds(child.fqdn, key, "SHA256")
                    parent = self._parent(child)
                    assert parent is not None
                    extra.setdefault(parent.fqdn, []).append(f"{child.fqdn} DS {ds.to_text()}")
        conf = str(kdir / "knot.conf")
        for parent in self.zones:
            if parent.fqdn not in extra:
                continue
            text = self._zone_text(parent).replace(" 1 3600 600 86400 60", " 2 3600 600 86400 60")
            path = kdir / "zones" / f"{parent.fqdn}zone"
            path.write_text(text + "\n".join(extra[parent.fqdn]) + "\n")
            out = subprocess.run(
                ["knotc", "-c", conf, "zone-reload", parent.fqdn],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if out.returncode != 0:
                raise RuntimeError(f"knotc zone-reload {parent.fqdn}: {out.stderr or out.stdout}")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        pending = [c.fqdn for c in children]
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"knotd did not publish the DS of {pending[:3]} in time")
            name = pending[-1]
            q = dns.message.make_query(name, dns.rdatatype.DS)
            with contextlib.suppress(OSError, dns.exception.DNSException):
                r = dns.query.udp(q, "127.0.0.1", port=self.knot_port, timeout=0.5)
                if r.get_rrset(r.answer, q.question[0].name, 1, dns.rdatatype.DS) is not None:
                    pending.pop()
                    continue
            time.sleep(0.05)

    def _wait_knot(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        pending = {z.fqdn: z for z in self.zones}
        while pending:
            if proc.poll() is not None:
                log = (self.tmp / "knot" / "knotd.log").read_text(errors="replace")
                raise RuntimeError(f"knotd exited ({proc.returncode}): {log[-1500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"knotd did not serve {sorted(pending)} in time")
            for name, zone in list(pending.items()):
                rdtype = dns.rdatatype.DNSKEY if zone.signed else dns.rdatatype.SOA
                q = dns.message.make_query(name, rdtype, want_dnssec=True)
                try:
                    r = dns.query.udp(q, "127.0.0.1", port=self.knot_port, timeout=0.5)
                except (OSError, dns.exception.DNSException):
                    continue
                if r.get_rrset(r.answer, q.question[0].name, 1, rdtype) is not None:
                    del pending[name]
            if pending:
                time.sleep(0.1)

    # -- Unbound -------------------------------------------------------------------------
    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every query clients sent the validating Unbound so far, in order,
        as its own log says (``log_queries=True``): the resolver's count, not the client's."""
        if not self.log_queries:
            raise RuntimeError("DnsPeers(log_queries=True) logs the queries")
        out = []
        log = (self.tmp / "unbound" / "unbound.log").read_text(errors="replace")
        for line in log.splitlines():
            # "[time] unbound[pid:0] info: 127.0.0.1 name. TYPE IN"
            parts = line.split(" info: ", 1)[-1].split()
            if len(parts) == 4 and parts[3] == "IN" and parts[0].startswith("127."):
                out.append((parts[1].rstrip(".").lower(), parts[2]))
        return out

    def _start_unbound(self) -> None:
        self.unbound_port = self._run_unbound("unbound", validating=True)

    def start_plain_resolver(self) -> str:
        """A second Unbound over the same Knot WITHOUT the validator (``module-config:
        "iterator"``): it passes RRSIGs on but never sets AD, like a resolver that does not
        validate (systemd-resolved without DNSSEC, many cloud resolvers). Its "HOST:PORT";
        started once, later calls return the same one."""
        if not self._plain:
            self._plain = f"127.0.0.1:{self._run_unbound('unbound-plain', validating=False)}"
        return self._plain

    def _run_unbound(self, name: str, *, validating: bool) -> int:
        udir = self.tmp / name
        udir.mkdir(parents=True, exist_ok=True)
        top = self.zones[0].fqdn
        stubs: list[str] = []
        for zone in self.zones:
            stubs += [
                "stub-zone:",
                f'    name: "{zone.fqdn}"',
                f"    stub-addr: 127.0.0.1@{self.knot_port}",
            ]
        anchors = [f'    trust-anchor: "{top} DS {ds}"' for ds in self.top_ds]
        cache = [] if self.cache else ["    cache-max-ttl: 0", "    cache-max-negative-ttl: 0"]
        if self.log_queries and validating:
            cache.append("    log-queries: yes")
        last_error = ""
        modules = "validator iterator" if validating else "iterator"
        for _ in range(5):
            port = free_port()
            conf = udir / "unbound.conf"
            conf.write_text(
                "\n".join(
                    [
                        "server:",
                        "    interface: 127.0.0.1",
                        f"    port: {port}",
                        "    do-ip6: no",
                        '    username: ""',
                        '    chroot: ""',
                        f'    directory: "{udir}"',
                        f'    pidfile: "{udir}/unbound.pid"',
                        "    use-syslog: no",
                        '    logfile: ""',
                        "    verbosity: 1",
                        "    num-threads: 1",
                        "    so-reuseport: no",
                        "    do-not-query-localhost: no",
                        "    access-control: 127.0.0.0/8 allow",
                        '    local-zone: "test." nodefault',
                        "    val-permissive-mode: no",
                        f'    module-config: "{modules}"',
                        "    outgoing-range: 1024",
                        "    num-queries-per-thread: 1024",
                        *cache,
                        *anchors,
                        "remote-control:",
                        "    control-enable: no",
                        *stubs,
                        "",
                    ]
                )
            )
            log = (udir / "unbound.log").open("wb")
            proc = subprocess.Popen(
                ["unbound", "-d", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
            self._procs.append(proc)
            try:
                self._wait_unbound(proc, top, port, udir, validating)
                return port
            except RuntimeError as exc:
                last_error = str(exc)
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
                self._procs.remove(proc)
        raise RuntimeError(f"Unbound did not start: {last_error}")

    def _wait_unbound(
        self, proc: subprocess.Popen[bytes], top: str, port: int, udir: Path, validating: bool
    ) -> None:
        """Until a (validated, when ``validating``) answer for the top zone comes back."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                log = (udir / "unbound.log").read_text(errors="replace")
                raise RuntimeError(f"unbound exited ({proc.returncode}): {log[-1500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("unbound gave no (validated) answer in time")
            q = dns.message.make_query(top, dns.rdatatype.SOA, want_dnssec=True)
            with contextlib.suppress(OSError, dns.exception.DNSException):
                r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
                if r.rcode() == 0 and (r.flags & dns.flags.AD or not validating):
                    return
            time.sleep(0.1)


@pytest.fixture(scope="session")
def dns_peers_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """``start(zones) -> DnsPeers``: starts Knot+Unbound for these zones; stopped at the end."""
    started: list[DnsPeers] = []

    def start(zones: list[Zone], *, cache: bool = True, log_queries: bool = False) -> DnsPeers:
        peers = DnsPeers(tmp_path_factory.mktemp("dns-peers"), zones, cache=cache,
                         log_queries=log_queries)
        try:
            peers.start()
        except RuntimeError as exc:
            pytest.fail(f"DNS peers could not start: {exc}")
        started.append(peers)
        return peers

    yield start
    for peers in started:
        peers.stop()
