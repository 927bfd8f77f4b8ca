"""Benchmark: live DNS checks of 1,000 domains, tlsrpt-tui vs checkdmarc 6.x, side by side.

Run from the repo root, as root (the policy host binds port 443 on a loopback address), with the
bench venv (it holds checkdmarc and our package, editable):

    bench/.venv/bin/python bench/bench_checks.py [--domains 1000] [--delay-ms 25] [--no-plain]

Ours is the real command, ``tlsrpt-tui check --no-probe --format json`` on a fresh store, as a
child process: its wall time and peak RSS (``wait4``). Half of the domains are hosted on one
provider's two MX (``hoster.test``, as most domains are), the others have MX of their own. The
delaying proxy also counts the queries it forwards, per name and type, so each tool's number of
queries and how many of them repeated a name already asked are printed (ours keeps one cache
per run: none should repeat).

Set-up (the same real peers as the tests): Knot serves a signed ``test.`` zone with N healthy
domains (two MX each, each MX with two DANE-EE TLSA records, TLS-RPT, MTA-STS record and policy),
Unbound validates it, and an HTTPS policy host (tests/peers/tls.py) serves every policy. A small
UDP forwarding proxy (a separate process) sits in front of Unbound and holds each answer
``--delay-ms`` before returning it, because a zero-latency loopback resolver hides the round trips
that dominate real checks. Both tools ask the same resolver: checkdmarc through its
``nameservers`` argument, and its policy fetch (requests) through a ``socket.getaddrinfo`` that
resolves ``.test`` names via that resolver; it trusts the test CA via ``REQUESTS_CA_BUNDLE``.

checkdmarc runs ``check_mta_sts``, ``check_mx`` (with the policy's mx patterns) and
``check_smtp_tls_reporting`` per domain, one domain after the other, as its ``check_domains``
does; we run ``check_domains`` (probe off for both: checkdmarc's TLS test is opt-in). Each tool
runs once to warm Unbound's cache, then is timed with the delay and without; checkdmarc's own
caches are cleared before each timed run. Verdicts on what both check (TLS-RPT valid, MTA-STS
valid, MX host set, TLSA present, DNSSEC) are compared and differences listed.

Last, "dead MX + dead policy host ≈ one timeout": one domain whose MX never greets and whose
policy host accepts TCP but never answers TLS, checked with the probe on.
Not part of the test suite's pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))


# -- the delaying UDP proxy (runs in its own process) -----------------------------------
async def _proxy(listen_port: int, upstream: tuple[str, int], delay: float) -> None:
    import json
    import threading
    from collections import Counter

    import dns.message

    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()
    asked: Counter[str] = Counter()

    def count(wire: bytes) -> None:
        try:
            q = dns.message.from_wire(wire).question[0]
        except Exception:
            return
        asked[f"{q.name.to_text().lower()} {dns.rdatatype.to_text(q.rdtype)}"] += 1

    def dump() -> None:  # on the loop: "counts" on stdin prints them and starts again
        print(json.dumps(dict(asked)), flush=True)
        asked.clear()

    def commands() -> None:
        for line in sys.stdin:
            if line.strip() == "counts":
                loop.call_soon_threadsafe(dump)

    threading.Thread(target=commands, daemon=True).start()

    class Server(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            count(data)
            task = loop.create_task(self.forward(data, addr))
            pending.add(task)
            task.add_done_callback(pending.discard)

        async def forward(self, data: bytes, addr: tuple[str, int]) -> None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect(upstream)
                await loop.sock_sendall(sock, data)
                reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
            except (OSError, TimeoutError):
                return
            finally:
                sock.close()
            loop.call_later(delay, self.transport.sendto, reply, addr)  # type: ignore[attr-defined]

    async def tcp_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # DNS over TCP (checkdmarc sends its DNSSEC queries this way): same delay per answer.
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                query = await reader.readexactly(size)
                count(query)
                up_r, up_w = await asyncio.open_connection(*upstream)
                up_w.write(len(query).to_bytes(2, "big") + query)
                rsize = int.from_bytes(await up_r.readexactly(2), "big")
                reply = await up_r.readexactly(rsize)
                up_w.close()
                await asyncio.sleep(delay)
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", listen_port))
    await asyncio.start_server(tcp_client, "127.0.0.1", listen_port, backlog=256)
    print("ready", flush=True)
    await asyncio.Event().wait()


def start_proxy(upstream_port: int, delay_ms: float) -> tuple[subprocess.Popen[str], int]:
    from peers.dns import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--proxy", str(port), str(upstream_port), str(delay_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the delay proxy did not start")
    return proc, port


def proxy_counts(proxy: subprocess.Popen[str]) -> dict[str, int]:
    """The queries the proxy forwarded since the last call ("name TYPE" -> times)."""
    import json

    assert proxy.stdin is not None and proxy.stdout is not None
    proxy.stdin.write("counts\n")
    proxy.stdin.flush()
    return json.loads(proxy.stdout.readline())


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU (user + system) each process has used so far, from /proc (the peers' share of the
    two cores while our check runs: on a small machine they compete with it)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / tick
    return out


def query_line(counts: dict[str, int], n: int) -> str:
    total = sum(counts.values())
    repeated = total - len(counts)
    return (f"{total:,} queries ({total / n:.1f} per domain), {len(counts):,} distinct names,"
            f" {repeated:,} repeats")


# -- the TLS peers (their own process, so their threads do not share our GIL) ------------
def _serve_peers(n: int) -> None:
    import json

    from peers.tls import TlsPeers

    tmp = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    tls = TlsPeers(tmp)
    tls.start()
    dead = socket.socket()
    dead.bind((tls.block + ".200", 443))
    dead.listen(64)
    for i in range(n):
        d = domain_name(i)
        mx = "".join(f"mx: {h}\n" for h in mx_hosts(i))
        tls.set_policy(f"mta-sts.{d}", body=f"version: STSv1\nmode: enforce\n{mx}max_age: 604800\n")
    info = {
        "block": tls.block,
        "https_address": tls.https_address,
        "smtp": tls.smtp,
        "ca_file": tls.ca_file,
        "good_spki_sha256": tls.good_spki_sha256.hex(),
    }
    print(json.dumps(info), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    tls.stop()
    dead.close()


class PeersInfo:
    def __init__(self, data: dict) -> None:
        self.block = data["block"]
        self.https_address = data["https_address"]
        self.smtp = data["smtp"]
        self.ca_file = data["ca_file"]
        self.good_spki_sha256 = bytes.fromhex(data["good_spki_sha256"])


def start_peers(n: int) -> tuple[subprocess.Popen[str], PeersInfo]:
    import json

    proc = subprocess.Popen(
        [sys.executable, __file__, "--peers", str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("{"):
        raise RuntimeError("the TLS peers did not start")
    return proc, PeersInfo(json.loads(line))


# -- zones ------------------------------------------------------------------------------
HOSTER_MX = ("mx1.hoster.test", "mx2.hoster.test")


def domain_name(i: int) -> str:
    return f"d{i:03d}.test"


def mx_hosts(i: int) -> tuple[str, ...]:
    """Even domains are hosted on the provider's two MX, odd ones have two of their own."""
    d = domain_name(i)
    return HOSTER_MX if i % 2 == 0 else (f"mx1.{d}", f"mx2.{d}")


def build_zones(n: int, peers, dead_policy_addr: str):  # type: ignore[no-untyped-def]
    from peers.dns import Zone

    spki = peers.good_spki_sha256.hex()

    def mx_lines(mx: str) -> list[str]:
        return [f"{mx}. A {peers.smtp['good']}", f"_25._tcp.{mx}. TLSA 3 1 1 {spki}",
                f"_25._tcp.{mx}. TLSA 3 1 1 {'ab' * 32}"]

    zones = [Zone("test.", ""), Zone("hoster.test.", "\n".join(
        line for mx in HOSTER_MX for line in mx_lines(mx)))]
    domains = []
    for i in range(n):
        d = domain_name(i)
        domains.append(d)
        # Each domain is its own signed zone with a DS in test. (a secure delegation), as
        # real domains are: checkdmarc looks for the DNSKEY at the registered domain.
        lines = [
            f'_smtp._tls.{d}. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d}"',
            f'_mta-sts.{d}. TXT "v=STSv1; id=2026112801"',
            f"mta-sts.{d}. A {peers.https_address}",
        ]
        for j, mx in enumerate(mx_hosts(i), start=1):
            lines.append(f"{d}. MX {10 * j} {mx}.")
            if not mx.endswith(".hoster.test"):
                lines += mx_lines(mx)
        zones.append(Zone(f"{d}.", "\n".join(lines)))
    zones[0].body = "\n".join(
        [
            '_mta-sts.dead.test. TXT "v=STSv1; id=1"',
            f"mta-sts.dead.test. A {dead_policy_addr}",
            "dead.test. MX 10 mx.dead.test.",
            f"mx.dead.test. A {peers.smtp['silent']}",
        ]
    )
    return zones, domains


# -- the two tools ----------------------------------------------------------------------
def run_ours_cli(domains: list[str], resolver: str, ca_file: str, profile: str | None = None,
                 checkout: Path = REPO, label: str = "tlsrpt-tui") -> tuple[float, float, dict]:
    """``tlsrpt-tui check --no-probe --format json`` as a child on a fresh store: (wall s,
    peak RSS MiB, verdicts). ``profile``: run it under cProfile, stats written there;
    ``checkout``: the source tree it runs from (another one: an A/B of two versions)."""
    import json

    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text("[checks]\nallow_private_targets = true\n")
        out = Path(tmp) / "out.json"
        prof = ["-m", "cProfile", "-o", profile] if profile else []
        argv = [sys.executable, *prof, "-m", "tlsrpt_tui", "check", "--config", str(cfg), "--db",
                str(Path(tmp) / "store.sqlite3"), "--no-probe", "--format", "json",
                "--resolver", resolver, "--ca-file", ca_file, "--timeout", "5", *domains]
        t = time.perf_counter()
        with out.open("wb") as sink:
            proc = subprocess.Popen(argv, stdout=sink, cwd=checkout)
            _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise RuntimeError(f"tlsrpt-tui check exited {os.waitstatus_to_exitcode(status)}")
        results = json.loads(out.read_text())
    verdicts = {}
    for r in results:
        codes = {f["code"] for f in r["findings"]}
        verdicts[r["domain"]] = _verdict(codes, r["records"])
    print(f"  {label} check CPU: {usage.ru_utime + usage.ru_stime:.2f} s"
          f" (user {usage.ru_utime:.2f}, sys {usage.ru_stime:.2f}), wall {wall:.2f} s", flush=True)
    return wall, usage.ru_maxrss / 1024, verdicts


def _verdict(codes: set[str], records: dict) -> dict:
    tlsa = records.get("tlsa", {})
    return {
        "tlsrpt_valid": "tlsrpt.ok" in codes,
        "mta_sts_valid": {"sts.record.ok", "sts.policy.ok"} <= codes,
        "mx_hosts": sorted(m.split()[1] for m in records.get("mx") or []),
        "tlsa_present": sorted(h for h, v in tlsa.items() if v["records"]),
        "dnssec": sorted(h for h, v in tlsa.items() if v["state"] in ("secure", "none")),
    }


def run_ours(domains: list[str], resolver: str, ca_file: str) -> tuple[float, dict]:
    from tlsrpt_tui.service.checks import CheckOptions, check_domains

    opts = CheckOptions(
        resolver=resolver, ca_file=ca_file, probe=False, timeout=5.0, allow_private_targets=True
    )
    t = time.perf_counter()
    results = asyncio.run(check_domains(domains, opts))
    elapsed = time.perf_counter() - t
    return elapsed, {r.domain: _verdict(r.codes, r.records) for r in results}


def _patch_getaddrinfo(host: str, port: int) -> None:
    """Make requests (checkdmarc's policy fetch) resolve .test names through our resolver."""
    import dns.resolver

    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [host]
    res.port = port
    original = socket.getaddrinfo

    def getaddrinfo(name, port_, family=0, type_=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
        if isinstance(name, str) and name.rstrip(".").endswith(".test"):
            answer = res.resolve(name, "A")
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (r.address, int(port_ or 0)))
                for r in answer
            ]
        return original(name, port_, family, type_, proto, flags)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def run_checkdmarc(domains: list[str], host: str, port: int) -> tuple[float, dict]:
    import checkdmarc.dnssec as cd_dnssec
    import checkdmarc.utils as cd_utils
    import dns.nameserver
    from checkdmarc.mta_sts import check_mta_sts
    from checkdmarc.smtp import check_mx
    from checkdmarc.smtp_tls_reporting import check_smtp_tls_reporting

    for cache in (cd_utils.DNS_CACHE, cd_dnssec.DNSSEC_CACHE, cd_dnssec.DNSKEY_CACHE,
                  cd_dnssec.TLSA_CACHE):  # fmt: skip
        cache.clear()
    _patch_getaddrinfo(host, port)
    ns = [dns.nameserver.Do53Nameserver(host, port)]
    verdicts = {}
    t = time.perf_counter()
    for d in domains:
        sts = check_mta_sts(d, nameservers=ns, timeout=5.0)
        patterns = sts["policy"]["mx"] if sts.get("valid") else None
        mx = check_mx(d, mta_sts_mx_patterns=patterns, nameservers=ns, timeout=5.0)
        rpt = check_smtp_tls_reporting(d, nameservers=ns, timeout=5.0)
        hosts = mx.get("hosts", [])
        verdicts[d] = {
            "tlsrpt_valid": bool(rpt.get("valid")),
            "mta_sts_valid": bool(sts.get("valid")),
            "mx_hosts": sorted(h["hostname"] for h in hosts),
            "tlsa_present": sorted(h["hostname"] for h in hosts if h.get("tlsa")),
            "dnssec": sorted(h["hostname"] for h in hosts if h.get("dnssec")),
            "_raw": (sts, mx, rpt),
        }
    return time.perf_counter() - t, verdicts


def diff_verdicts(ours: dict, theirs: dict) -> list[str]:
    out = []
    for d in sorted(ours):
        for key, value in ours[d].items():
            if theirs[d].get(key) != value:
                out.append(f"{d} {key}: tlsrpt-tui={value!r} checkdmarc={theirs[d].get(key)!r}")
    return out


def dead_domain(resolver: str, ca_file: str, timeout: float) -> tuple[float, set[str]]:
    from tlsrpt_tui.service.checks import CheckOptions, check_domain

    opts = CheckOptions(
        resolver=resolver, ca_file=ca_file, timeout=timeout, allow_private_targets=True
    )
    t = time.perf_counter()
    status = asyncio.run(check_domain("dead.test", opts))
    return time.perf_counter() - t, status.codes


def _ab_rounds(args: argparse.Namespace, domains: list[str], resolver: str, ca_file: str,
               first: dict) -> None:
    """--ours-only: more rounds of ours, alternating with --baseline's checkout when given;
    every run's verdicts must equal the first run's."""
    runs = [("ours", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    for i in range(args.rounds):
        for label, checkout in runs:
            if i == 0 and label == "ours":
                continue  # that was the timed run above
            _wall, _rss, verdicts = run_ours_cli(domains, resolver, ca_file, checkout=checkout,
                                                 label=label)
            if verdicts != first:
                diff = [d for d in first if verdicts.get(d) != first[d]]
                print(f"  {label}: verdicts differ from the first run for {len(diff)} domains,"
                      f" e.g. {diff[:3]}", flush=True)


# -- main -------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=25.0)
    parser.add_argument("--dead-timeout", type=float, default=3.0)
    parser.add_argument("--no-plain", action="store_true",
                        help="skip the run without delay (only the delayed one is a target)")
    parser.add_argument("--checkdmarc-sample", type=int, metavar="N",
                        help="time checkdmarc on the first N domains only and scale its time "
                             "to all (it checks one domain after the other: ~1 s each)")
    parser.add_argument("--ours-only", action="store_true",
                        help="time only tlsrpt-tui (no checkdmarc, no ratio): for profiling")
    parser.add_argument("--baseline", metavar="DIR", type=Path,
                        help="with --ours-only: also run the check from the checkout in DIR "
                             "(its own tlsrpt_tui), alternating with ours, --rounds times")
    parser.add_argument("--rounds", type=int, default=1, help="with --ours-only: runs of each")
    parser.add_argument("--profile", metavar="FILE",
                        help="run our check under cProfile and write its stats to FILE")
    parser.add_argument("--proxy", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--peers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peers is not None:
        _serve_peers(args.peers)
        return 0
    if args.proxy:
        asyncio.run(_proxy(int(args.proxy[0]), ("127.0.0.1", int(args.proxy[1])),
                           float(args.proxy[2]) / 1000))  # fmt: skip
        return 0
    try:
        import checkdmarc  # noqa: F401
    except ImportError:
        sys.exit("checkdmarc is not importable: run with bench/.venv/bin/python")
    logging.disable(logging.WARNING)
    from installed import compile_package
    from peers.dns import DnsPeers

    compile_package()  # our modules start compiled, as installed (bench/installed.py)
    if args.baseline:
        import compileall

        compileall.compile_dir(args.baseline / "tlsrpt_tui", quiet=1)

    tmp = Path(tempfile.mkdtemp(prefix="bench-checks-"))
    peers_proc, tls = start_peers(args.domains)
    os.environ["REQUESTS_CA_BUNDLE"] = tls.ca_file
    zones, domains = build_zones(args.domains, tls, tls.block + ".200")
    dnsp = DnsPeers(tmp / "dns", zones)
    proxy = None
    n = len(domains)
    try:
        t = time.perf_counter()
        dnsp.start()
        print(f"Knot+Unbound up in {time.perf_counter() - t:.1f} s, {n} domains", flush=True)
        proxy, pport = start_proxy(dnsp.unbound_port, args.delay_ms)
        direct = dnsp.resolver
        # Warm Unbound's cache with both tools' queries (not timed).
        run_ours(domains, direct, tls.ca_file)
        if not args.ours_only:
            run_checkdmarc(domains[:args.checkdmarc_sample or n], "127.0.0.1", dnsp.unbound_port)
        print("warmed up", flush=True)
        rows = []
        runs = [(f"{args.delay_ms:g} ms delay", ("127.0.0.1", pport))]
        if not args.no_plain:
            runs.append(("no delay", ("127.0.0.1", dnsp.unbound_port)))
        queries: dict[str, dict[str, int]] = {}
        asked_of = {"tlsrpt-tui": n}  # how many domains each tool's queries were for
        rss = 0.0
        for label, (host, port) in runs:
            proxy_counts(proxy)  # start counting here
            peer_pids = {"delay proxy": proxy.pid, "HTTPS/SMTP peers": peers_proc.pid,
                         **{Path(str(p.args[0])).name: p.pid for p in dnsp._procs}}
            before = cpu_seconds(peer_pids)
            ours_t, ours_rss, ours_v = run_ours_cli(domains, f"{host}:{port}", tls.ca_file,
                                                    args.profile if port == pport else None)
            if port == pport:
                queries["tlsrpt-tui"], rss = proxy_counts(proxy), ours_rss
            print(f"{label}: tlsrpt-tui check {ours_t:.2f} s, peak RSS {ours_rss:.1f} MiB",
                  flush=True)
            after = cpu_seconds(peer_pids)
            print("  the peers' CPU meanwhile: " + ", ".join(
                f"{k} {after[k] - before[k]:.2f} s" for k in after if k in before), flush=True)
            if args.ours_only:
                continue
            sample = domains[:args.checkdmarc_sample] if args.checkdmarc_sample else domains
            theirs_t, theirs_v = run_checkdmarc(sample, host, port)
            if port == pport:
                queries["checkdmarc"] = proxy_counts(proxy)
                asked_of["checkdmarc"] = len(sample)
            if len(sample) < n:
                print(f"{label}: checkdmarc {theirs_t:.2f} s for the first {len(sample)} "
                      f"domains, scaled to {n}: {theirs_t * n / len(sample):.2f} s", flush=True)
                theirs_t = theirs_t * n / len(sample)
                ours_v = {d: ours_v[d] for d in sample}
            else:
                print(f"{label}: checkdmarc {theirs_t:.2f} s", flush=True)
            rows.append((label, ours_t, theirs_t, diff_verdicts(ours_v, theirs_v)))
        if args.ours_only:
            counts = queries.get("tlsrpt-tui", {})
            print(f"queries with delay, tlsrpt-tui: {query_line(counts, n)}")
            _ab_rounds(args, domains, f"127.0.0.1:{pport}", tls.ca_file, ours_v)
            return 0
        print()
        print(f"{'resolver':<14} {'tlsrpt-tui':>11} {'checkdmarc':>11} {'ratio':>8}")
        for label, ours_t, theirs_t, _ in rows:
            print(f"{label:<14} {ours_t:>10.2f}s {theirs_t:>10.2f}s {theirs_t / ours_t:>7.1f}x")
        print(f"(per domain with delay: ours {rows[0][1] / n * 1000:.1f} ms, "
              f"checkdmarc {rows[0][2] / n * 1000:.0f} ms)")  # fmt: skip
        print(f"tlsrpt-tui check peak RSS with delay: {rss:.1f} MiB (target <= 150 MiB)")
        for tool, counts in queries.items():
            print(f"queries with delay, {tool} ({asked_of[tool]} domains):"
                  f" {query_line(counts, asked_of[tool])}")
            top = sorted(((c, q) for q, c in counts.items() if c > 1), reverse=True)[:5]
            if top:
                print("  most asked: " + ", ".join(f"{q} x{c}" for c, q in top))
        for label, _, _, diffs in rows:
            print(f"\nverdict differences ({label}): {len(diffs)}")
            for line in diffs[:20]:
                print("  " + line)
        took, codes = dead_domain(direct, tls.ca_file, args.dead_timeout)
        print(
            f"\ndead MX + dead policy host, timeout {args.dead_timeout:g} s: {took:.2f} s "
            f"({took / args.dead_timeout:.2f} timeouts; sequential would be "
            f"{2 * args.dead_timeout:g} s)"
        )
        print("  codes: " + ", ".join(sorted(codes)))
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(5)
        dnsp.stop()
        assert peers_proc.stdin is not None
        peers_proc.stdin.close()
        peers_proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
