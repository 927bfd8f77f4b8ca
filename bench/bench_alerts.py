"""Benchmark: `tlsrpt-tui watch` alert latency, and its idle CPU and memory.

Run from the repo root, as root (it starts a private Dovecot, Knot + Unbound and TLS peers like
the tests do), with the project's venv:

    .venv/bin/python bench/bench_alerts.py [--trials 10] [--domains 50] [--accounts 3]
                                           [--idle-seconds 600] [--backlog 500]
                                           [--skip-latency] [--skip-idle]

1. Latency: ``watch`` runs as its own process against Dovecot (IMAP IDLE), an aiosmtpd
   submission server (STARTTLS + AUTH) and an HTTPS webhook receiver (tests/peers/alert_peers).
   Each trial APPENDs one fresh report with failures and times, from the APPEND's return, when
   the report is in the store, when the webhook arrives and when the mail arrives. Beside it,
   the peer alone: how long Dovecot takes to push the same APPEND to a bare IDLE client
   (imaplib), i.e. the floor no IMAP client can beat. Target: median <= 5 s.
2. Idle: ``watch`` on ``--domains`` domains (a signed Knot zone behind a validating Unbound,
   MX and policy on the TLS peers) and ``--accounts`` accounts (IDLE on the same Dovecot user,
   one connection each; ``--backlog`` reports already in the INBOX, so the first sync is a
   big one that runs the whole ingest path with its parser processes). After the first round
   of checks is stored and the backlog synced, it samples every 10 s, over ``--idle-seconds``
   (10 minutes, as the issue measures), the whole process tree: ``watch`` and every process
   below it (parse workers, multiprocessing's fork server and resource tracker, should any be
   left): the sum of their RSS (/proc/PID/status) and of their CPU time (/proc/PID/stat, with
   the children that ended). Target: under 1% of a core and under 80 MiB.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import trustme  # noqa: E402
from peers.alert_peers import PASSWORD, SubmissionServer, WebhookReceiver  # noqa: E402
from peers.dns import DnsPeers, Zone  # noqa: E402
from peers.dovecot import Dovecot, start_dovecot  # noqa: E402
from peers.tls import TlsPeers  # noqa: E402
from peers.tlsrpt_mail import fresh_report  # noqa: E402

IMAP_ENV = "TLSRPT_BENCH_IMAP"
SMTP_ENV = "TLSRPT_BENCH_SMTP"


def account_toml(dc: Dovecot, name: str) -> str:
    return (
        f'[[accounts]]\nname = "{name}"\nhost = "{dc.host}"\nport = {dc.imaps_port}\n'
        f'security = "tls"\nusername = "{dc.user}"\npassword_env = "{IMAP_ENV}"\n'
        f'ca_file = "{dc.ca_file}"\n\n'
    )


def alerts_toml(ca_file: Path, smtp: SubmissionServer, hook: WebhookReceiver) -> str:
    return (
        "[alerts]\n[[alerts.mail]]\n"
        f'host = "{smtp.host}"\nport = {smtp.port}\nsecurity = "starttls"\n'
        f'username = "alerts@example.test"\npassword_env = "{SMTP_ENV}"\n'
        f'ca_file = "{ca_file}"\nfrom = "bench <b@example.test>"\nto = ["p@example.test"]\n'
        f'[[alerts.webhook]]\nurl = "{hook.url}"\nca_file = "{ca_file}"\n'
    )


def start_watch(cfg: Path, db: Path, dc: Dovecot, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, IMAP_ENV: dc.password, SMTP_ENV: PASSWORD}
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tlsrpt_tui.cli", "watch", "--config", str(cfg),
             "--db", str(db)],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )


def query(db: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    try:
        conn = sqlite3.connect(db, timeout=10)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def wait(cond, limit: float, what: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > limit:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)
    return time.perf_counter()


def bare_idle_latency(dc: Dovecot, trials: int) -> list[float]:
    """Dovecot alone: APPEND (from another connection) -> untagged EXISTS on an IDLE client."""
    out = []
    ctx = ssl.create_default_context(cafile=str(dc.ca_file))
    for i in range(trials):
        raw = socket.create_connection((dc.host, dc.imaps_port))
        sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        f = sock.makefile("rb")
        f.readline()
        user = dc.user.replace('"', '\\"')
        pw = dc.password.replace("\\", "\\\\").replace('"', '\\"')
        sock.sendall(f'a LOGIN "{user}" "{pw}"\r\nb SELECT INBOX\r\nc IDLE\r\n'.encode())
        while not f.readline().startswith(b"+"):
            pass
        dc.append([fresh_report(90_000 + i)])
        appended = time.perf_counter()
        while b"EXISTS" not in f.readline():
            pass
        out.append(time.perf_counter() - appended)
        sock.sendall(b"DONE\r\nd LOGOUT\r\n")
        sock.close()
    return out


def latency(tmp: Path, trials: int) -> None:
    dc = start_dovecot()
    ca = trustme.CA()
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    smtp = SubmissionServer(ca, tmp).start()
    hook = WebhookReceiver(ca, tmp).start()
    cfg = tmp / "latency.toml"
    cfg.write_text(account_toml(dc, "reports") + alerts_toml(ca_file, smtp, hook))
    db = tmp / "latency.sqlite3"
    proc = start_watch(cfg, db, dc, tmp / "latency.log")
    try:
        wait(lambda: bool(query(db, "SELECT 1 FROM alert_state WHERE name LIKE "
                                    "'first-sync-done:%'")), 60, "the first sync")
        time.sleep(1)
        stored, hooked, mailed = [], [], []
        for i in range(trials):
            n = len(hook.posts)
            m = len(smtp.received.messages)
            dc.append([fresh_report(10_000 + i)])
            t0 = time.perf_counter()
            t_store = wait(lambda i=i: bool(query(db, "SELECT count(*) FROM reports")[0][0]
                                            > i), 30, "the report")
            t_hook = wait(lambda n=n: len(hook.posts) > n, 60, "the webhook")
            t_mail = wait(lambda m=m: len(smtp.received.messages) > m, 60, "the mail")
            stored.append(t_store - t0)
            hooked.append(t_hook - t0)
            mailed.append(t_mail - t0)
            time.sleep(0.5)
        floor = bare_idle_latency(dc, trials)
    finally:
        proc.terminate()
        proc.wait(20)
        smtp.stop()
        hook.stop()
        dc.stop()

    def fmt(xs: list[float]) -> str:
        return f"median {statistics.median(xs) * 1000:7.0f} ms  max {max(xs) * 1000:7.0f} ms"

    print(f"latency over {trials} trials (APPEND returned -> ...):")
    print(f"  Dovecot alone: IDLE push to a bare client   {fmt(floor)}")
    print(f"  watch: report stored                        {fmt(stored)}")
    print(f"  watch: webhook received                     {fmt(hooked)}")
    print(f"  watch: alert mail received                  {fmt(mailed)}")
    med = statistics.median(mailed)
    print(f"  mail median / 5 s target = {med / 5:.3f}; "
          f"mail median / Dovecot's own push = {med / max(statistics.median(floor), 1e-3):.1f}x")


def idle(tmp: Path, domains: int, accounts: int, seconds: float, backlog: int) -> None:
    (tmp / "tls").mkdir(exist_ok=True)
    tls = TlsPeers(tmp / "tls")
    tls.start()
    good = f"3 1 1 {tls.good_spki_sha256.hex()}"
    lines = []
    names = [f"d{i:02d}.test" for i in range(domains)]
    for d in names:
        lines += [
            f'_smtp._tls.{d}. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d}"',
            f'_mta-sts.{d}. TXT "v=STSv1; id=1"',
            f"mta-sts.{d}. A {tls.https_address}",
            f"{d}. MX 10 mx1.{d}.",
            f"mx1.{d}. A {tls.smtp['good']}",
            f"_25._tcp.mx1.{d}. TLSA {good}",
        ]
        tls.set_policy(f"mta-sts.{d}",
                       body=f"version: STSv1\nmode: enforce\nmx: mx1.{d}\nmax_age: 604800\n")
    dns = DnsPeers(tmp / "dns", [Zone("test.", "\n".join(lines))]).start()
    dc = start_dovecot()
    # Mail already there: the first sync is a big one (parser processes) before the idle part.
    dc.append_maildir([fresh_report(50_000 + i, failures=i % 4 == 0) for i in range(backlog)])
    cfg = tmp / "idle.toml"
    cfg.write_text(
        "domains = [" + ", ".join(f'"{d}"' for d in names) + "]\n"
        f'[checks]\nresolver = "{dns.resolver}"\nca_file = "{tls.ca_file}"\n'
        "allow_private_targets = true\ntimeout = 5.0\n\n"
        + "".join(account_toml(dc, f"acct{i}") for i in range(accounts))
    )
    db = tmp / "idle.sqlite3"
    proc = start_watch(cfg, db, dc, tmp / "idle.log")
    try:
        t0 = time.perf_counter()
        wait(lambda: query(db, "SELECT count(DISTINCT domain) FROM check_results")
             == [(domains,)], 300, "the first round of checks")
        wait(lambda: query(db, "SELECT count(*) FROM reports")[0][0] >= backlog, 300,
             "the first sync of the backlog")
        startup = time.perf_counter() - t0
        time.sleep(5)  # let the IDLE connections settle
        c0, w0 = tree_cpu(proc.pid), time.perf_counter()
        samples: list[tuple[float, float, int]] = []  # (watch RSS, tree RSS, processes)
        while time.perf_counter() - w0 < seconds:
            pids = tree(proc.pid)
            samples.append((status_mib(proc.pid), sum(status_mib(p) for p in pids), len(pids)))
            time.sleep(min(10.0, max(0.0, seconds - (time.perf_counter() - w0))))
        c1, w1 = tree_cpu(proc.pid), time.perf_counter()
        pids = tree(proc.pid)
        samples.append((status_mib(proc.pid), sum(status_mib(p) for p in pids), len(pids)))
        share = (c1 - c0) / (w1 - w0) * 100
        end_tree, most = samples[-1][1], max(s[1] for s in samples)
        print(f"idle: {domains} domains, {accounts} accounts (IDLE), first round of checks "
              f"and the first sync of {backlog} reports stored in {startup:.1f} s")
        print(f"  over {w1 - w0:.0f} s ({len(samples)} samples), the whole process tree: CPU "
              f"{c1 - c0:.2f} s = {share:.2f}% of a core (target < 1%: ratio {share / 1:.2f}); "
              f"RSS at the end {end_tree:.1f} MiB, highest {most:.1f} MiB (target < 80 MiB: "
              f"ratio {most / 80:.2f}); watch alone {samples[-1][0]:.1f} MiB, peak "
              f"{status_mib(proc.pid, 'VmHWM'):.1f} MiB; processes in the tree: "
              f"{sorted({s[2] for s in samples})}")
    finally:
        proc.terminate()
        proc.wait(20)
        dc.stop()
        dns.stop()
        tls.stop()


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it (threads' children included)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(x) for x in (task / "children").read_text().split()]
        except OSError:  # it just ended
            continue
    return out


def status_mib(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_cpu(pid: int) -> float:
    """CPU seconds of the tree: each live process's own time, plus the time of the children
    that ended (cutime/cstime), so a worker that came and went is counted too."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / tick


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--domains", type=int, default=50)
    ap.add_argument("--accounts", type=int, default=3)
    ap.add_argument("--idle-seconds", type=float, default=600.0)
    ap.add_argument("--backlog", type=int, default=500)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-idle", action="store_true")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        if not args.skip_latency:
            latency(Path(tmp), args.trials)
        if not args.skip_idle:
            idle(Path(tmp), args.domains, args.accounts, args.idle_seconds, args.backlog)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
