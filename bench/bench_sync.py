"""Benchmark: `tlsrpt-tui sync` vs parsedmarc 11.x's IMAP mode on the same local Dovecot mailbox.

Run from the repo root, as root (it starts a private Dovecot like the tests do), with the bench
venv (parsedmarc 11.x and our package):

    bench/.venv/bin/python bench/bench_sync.py [--messages 10000] [--small 2000]

It loads N generated TLS-RPT report mails (Google- and Microsoft-style, tests/peers/tlsrpt_mail)
into the Dovecot INBOX, lets Dovecot index them once, then in one run times, as child processes:

1. ``python -m tlsrpt_tui sync --config … --db fresh.sqlite3`` (TLS with the test CA, batches of
   ``--batch`` messages, default the account default (500), raw bytes + reports stored, one
   transaction per batch);
2. ``parsedmarc -c bench.ini`` in IMAP mode: test mode (no archiving/deleting), ``batch_size =
   0`` (everything in one go), SMTP TLS reports saved to files in an output directory, offline,
   TLS with certificate verification skipped (parsedmarc cannot take an extra CA).

3. the wire limit: aioimaplib alone (``--wire`` child) logging in, then fetching the same bodies
   with ``UID FETCH n:m BODY.PEEK[]`` in the same batches, discarding them: nothing is
   parsed or stored, so this is what the network and Dovecot allow (target: ours <= 2x).

Ours runs again after parsedmarc (a fresh store) and the better of its two runs counts, since
other jobs on a shared machine make single timings noisy. It prints wall and CPU time and
peak RSS (``wait4`` rusage of each child), the ratios (target >= 8x), whether every report
arrived on each side, and how many messages parsedmarc left marked \\Seen (it sets \\Seen even
in test mode; we read with BODY.PEEK[]). ``--small`` runs our sync on a smaller mailbox too, to
show memory stays flat as the mailbox grows. Not part of the test suite's pass/fail.

``--no-parsedmarc`` leaves parsedmarc out (a minute a run) to iterate on ours vs the wire limit;
``--wire-batch`` (repeatable) times the wire run at other FETCH sizes, the best one counting;
``--wire-o1`` times them also with aioimaplib's quadratic FETCH check patched out (shown apart);
``--profile FILE`` runs our second sync's event loop under cProfile. Our CPU is printed as the
sync process's own (the loop, TLS, the writer thread, the pool's feeder and result threads)
and its parser processes' (rusage of the children it waited for).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))  # this checkout's package, whichever venv runs the bench

from installed import compile_package  # noqa: E402
from peers.dovecot import Dovecot, start_dovecot  # noqa: E402
from peers.tlsrpt_mail import google_report, microsoft_report  # noqa: E402

from tlsrpt_tui.service.config import AccountSettings  # noqa: E402

#: messages per FETCH and commit: the account default unless --batch says otherwise
DEFAULT_BATCH = AccountSettings.__dataclass_fields__["batch_size"].default  # a slots class

PASSWORD_ENV = "TLSRPT_BENCH_IMAP_PASSWORD"


#: The Dovecot master's pid (set once it runs): its processes' CPU is shown beside each run.
SERVER: list[int] = []

_TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int) -> float:
    """CPU seconds of ``root``'s processes: the live ones and those it has waited for."""
    total, parents = 0.0, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = (int(fields[1]), fields)
    for pid, (_ppid, fields) in parents.items():
        up = pid
        while up not in (0, 1, root) and up in parents:
            up = parents[up][0]
        if up == root:
            utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
            total += utime + stime + (cutime + cstime if pid == root else 0)
    return total / _TICK


def _machine_busy() -> float:
    """CPU seconds every CPU of the machine spent not idle, since boot (/proc/stat)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / _TICK


#: What the last run_measured saw beside its child: (Dovecot's CPU, the machine's busy CPU)
AROUND: list[tuple[float, float]] = [(0.0, 0.0)]


def run_measured(
    argv: list[str], env: dict[str, str], cwd: Path
) -> tuple[float, float, float, int, str]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of the child, exit status, stderr tail.

    The CPU is the whole child tree's (the child and every process it waited for). Beside
    it, ``AROUND`` gets Dovecot's CPU and the whole machine's busy CPU over the run: their sum
    against 2 x wall says whether the machine was the limit."""
    server0 = _tree_cpu(SERVER[0]) if SERVER else 0.0
    busy0 = _machine_busy()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = err.decode(errors="replace").strip().splitlines()[-3:]
    cpu = usage.ru_utime + usage.ru_stime
    time.sleep(0.2)  # Dovecot's session processes end after our LOGOUT
    AROUND[0] = ((_tree_cpu(SERVER[0]) if SERVER else 0.0) - server0, _machine_busy() - busy0)
    return wall, cpu, usage.ru_maxrss / 1024, proc.returncode, " | ".join(tail)


def load_mailbox(dc: Dovecot, n: int) -> None:
    dc.reset()
    dc.append_maildir(
        (google_report(i) if i % 2 else microsoft_report(i, failures=i % 7 == 0))
        for i in range(n)
    )
    assert len(dc.uids()) == n  # Dovecot indexes the Maildir once, before either tool runs


#: Runs ``python -m tlsrpt_tui ARGS`` and, at exit, writes the CPU of this process (the loop,
#: the TLS reads, the writer thread) and of the children it waited for (the parser processes)
#: to a JSON file: the wait4 rusage the parent sees is the sum of the two. With a profile
#: path, the main thread (the event loop) runs under cProfile and its stats go there.
OURS_CHILD = r"""
import atexit, json, resource, runpy, sys
out, prof, sys.argv = sys.argv[1], sys.argv[2], ["tlsrpt_tui", *sys.argv[3:]]

def report():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as fh:
        json.dump({"main": me.ru_utime + me.ru_stime, "parsers": kids.ru_utime + kids.ru_stime,
                   "main_rss": me.ru_maxrss / 1024}, fh)

atexit.register(report)
if prof:
    import cProfile, time
    profiler = cProfile.Profile(time.thread_time)  # the loop thread's own CPU
    atexit.register(lambda: profiler.dump_stats(prof))
    profiler.enable()
runpy.run_module("tlsrpt_tui", run_name="__main__", alter_sys=True)
"""


@dataclass
class OursRun:
    wall: float
    cpu: float  # the whole tree
    rss: float  # the tree's peak (the largest process)
    reports: int
    main_cpu: float  # the sync process alone (loop + writer thread)
    parser_cpu: float  # its parser processes
    server_cpu: float = 0.0  # Dovecot's processes meanwhile
    busy: float = 0.0  # the machine's busy CPU seconds meanwhile (anything running)

    def cpu_line(self) -> str:
        return (f"{self.cpu:6.2f} s CPU (main {self.main_cpu:.2f} + parsers "
                f"{self.parser_cpu:.2f}; Dovecot {self.server_cpu:.2f}; machine busy "
                f"{self.busy:.1f} of {(os.cpu_count() or 1) * self.wall:.1f} CPU-s)")


def ours(dc: Dovecot, work: Path, n: int, run: int = 0, batch: int = DEFAULT_BATCH,
         tree: Path = REPO, profile: Path | None = None, spy: Path | None = None) -> OursRun:
    cfg = work / "tlsrpt.toml"
    cfg.write_text(
        "[[accounts]]\n"
        'name = "bench"\n'
        f'host = "{dc.host}"\nport = {dc.imaps_port}\nsecurity = "tls"\n'
        f'username = "{dc.user}"\npassword_env = "{PASSWORD_ENV}"\n'
        f'ca_file = "{dc.ca_file}"\nfolders = ["INBOX"]\nbatch_size = {batch}\n'
    )
    db = work / f"bench-{n}-{run}.sqlite3"
    split = work / f"cpu-{n}-{run}.json"
    env = {**os.environ, PASSWORD_ENV: dc.password, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", OURS_CHILD, str(split), str(profile or ""),
               "sync", "--config", str(cfg), "--db", str(db)]
    if spy is not None:  # py-spy samples every thread and parser process (CPU only)
        beside = Path(sys.executable).with_name("py-spy")  # the bench venv's
        command = [str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy",
                   "record", "--subprocesses", "--nonblocking",
                   "--rate", "250", "--format", "raw", "--output", str(spy), "--", *command]
    wall, cpu, rss, rc, err = run_measured(
        command,
        env,
        tree,
    )
    if rc != 0:
        sys.exit(f"tlsrpt-tui sync failed ({rc}): {err}")
    with sqlite3.connect(db) as conn:
        reports = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
    cpus = json.loads(split.read_text())
    return OursRun(wall, cpu, rss, int(reports), cpus["main"], cpus["parsers"], *AROUND[0])


#: The wire run. With a 7th argument "o1", aioimaplib's ``FetchCommand.wait_data`` is
#: replaced by one that looks back to the current response's start only: the library's own
#: joins and rescans every line of the FETCH so far for each line received, which makes its
#: CPU grow with the FETCH size (its "200 twice as fast as 500").
WIRE_CHILD = r"""
import asyncio, ssl, sys, time
import aioimaplib
import aioimaplib.aioimaplib as _lib

def wait_data_o1(self):
    balance = 0
    for line in reversed(self._resp_lines):
        if isinstance(line, bytes):
            balance += line.count(b"(") - line.count(b")")
            if self.FETCH_MESSAGE_DATA_RE.match(line):
                break
    return balance > 0

if sys.argv[7:] == ["o1"]:
    _lib.FetchCommand.wait_data = wait_data_o1

async def main(host, port, user, password, ca, batch, *_):
    ctx = ssl.create_default_context(cafile=ca)
    client = aioimaplib.IMAP4_SSL(host=host, port=int(port), ssl_context=ctx, timeout=120)
    await client.wait_hello_from_server()
    await client.login(user, password)
    await client.select("INBOX")
    res = await client.uid_search("ALL")
    uids = [int(u) for u in res.lines[0].split()]
    got = 0
    for i in range(0, len(uids), int(batch)):
        part = uids[i:i + int(batch)]
        res = await client.uid("fetch", f"{part[0]}:{part[-1]}", "(BODY.PEEK[])")
        got += sum(len(line) for line in res.lines if isinstance(line, (bytes, bytearray)))
    await client.logout()
    print(len(uids), got)

asyncio.run(main(*sys.argv[1:]))
"""


def wire_run(dc: Dovecot, work: Path, batch: int = DEFAULT_BATCH,
             o1: bool = False) -> tuple[float, float, float]:
    """aioimaplib fetching every body in batches, nothing else: the wire limit (``o1``:
    without the library's quadratic FETCH check, see WIRE_CHILD)."""
    argv = [sys.executable, "-c", WIRE_CHILD, dc.host, str(dc.imaps_port), dc.user,
            dc.password, str(dc.ca_file), str(batch), *(["o1"] if o1 else [])]
    wall, cpu, rss, rc, err = run_measured(argv, dict(os.environ), work)
    if rc != 0:
        sys.exit(f"aioimaplib wire run failed ({rc}): {err}")
    return wall, cpu, rss


def parsedmarc_run(dc: Dovecot, work: Path) -> tuple[float, float, float, int]:
    out = work / "parsedmarc-out"
    out.mkdir(exist_ok=True)
    ini = work / "parsedmarc.ini"
    ini.write_text(
        "[general]\n"
        "save_aggregate = False\nsave_forensic = False\nsave_smtp_tls = True\n"
        f"output = {out}\noffline = True\nsilent = True\n"
        "[mailbox]\n"
        "reports_folder = INBOX\nwatch = False\ntest = True\nbatch_size = 0\n"
        "[imap]\n"
        f"host = {dc.host}\nport = {dc.imaps_port}\nssl = True\n"
        "skip_certificate_verification = True\n"
        f"user = {dc.user}\npassword = {dc.password}\n"
    )
    exe = Path(sys.executable).with_name("parsedmarc")
    wall, cpu, rss, rc, err = run_measured([str(exe), "-c", str(ini)], dict(os.environ), work)
    if rc != 0:
        print(f"  parsedmarc exited {rc}: {err}")
    reports = 0
    for path in out.glob("*smtp_tls*.json"):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        reports += len(data) if isinstance(data, list) else 1
    return wall, cpu, rss, reports


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=2_000, help="0 to skip the memory check")
    ap.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                    help=f"messages per FETCH and commit, ours and the wire run's "
                         f"(default {DEFAULT_BATCH}, the account default)")
    ap.add_argument("--wire-batch", type=int, action="append", default=None,
                    help="messages per FETCH of the wire run (repeatable; default --batch; "
                         "the best one counts as the wire limit)")
    ap.add_argument("--wire-o1", action="store_true",
                    help="also time each wire run without aioimaplib's quadratic FETCH check "
                         "(shown apart; the ratio stays against aioimaplib as it is)")
    ap.add_argument("--no-parsedmarc", action="store_true",
                    help="skip parsedmarc (a minute a run): ours twice vs the wire limit only")
    ap.add_argument("--profile", type=Path, default=None,
                    help="cProfile the event loop of our second run into this file (pstats)")
    ap.add_argument("--spy", type=Path, default=None,
                    help="sample our second run with py-spy (the bench extra) into this file "
                         "(collapsed stacks: every thread and parser process, CPU only); its "
                         "CPU figures then include py-spy's")
    ap.add_argument("--tree", type=Path, default=REPO,
                    help="the checkout whose package is timed (default this one; another "
                         "checkout of an earlier commit gives a before/after)")
    args = ap.parse_args()
    compile_package(args.tree)  # our modules start compiled, as installed (bench/installed.py)
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    dc = start_dovecot()
    if dc.process is not None:
        SERVER.append(dc.process.pid)
    try:
        with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-sync-") as tmp:
            work = Path(tmp)
            print(f"Dovecot {dc.host}:{dc.imaps_port} (TLS), {args.messages} report mails")
            if args.small:
                load_mailbox(dc, args.small)
                s = ours(dc, work, args.small, batch=args.batch, tree=args.tree)
                print(
                    f"  tlsrpt-tui sync  {args.small:>6} msgs: {s.wall:6.2f} s wall "
                    f"{s.cpu_line()}  peak RSS {s.rss:6.1f} MiB  reports {s.reports}"
                )
            load_mailbox(dc, args.messages)
            o1 = ours(dc, work, args.messages, batch=args.batch, tree=args.tree)
            seen_after_ours = sum("\\Seen" in f for f in dc.flags().values())
            print(
                f"  tlsrpt-tui sync  {args.messages:>6} msgs: {o1.wall:6.2f} s wall "
                f"{o1.cpu_line()}  peak RSS {o1.rss:6.1f} MiB  reports {o1.reports}  "
                f"(\\Seen set: {seen_after_ours})"
            )
            p_wall = p_cpu = p_rss = 0.0
            if not args.no_parsedmarc:
                p_wall, p_cpu, p_rss, p_rep = parsedmarc_run(dc, work)
                seen_after_pm = sum("\\Seen" in f for f in dc.flags().values())
                print(
                    f"  parsedmarc IMAP  {args.messages:>6} msgs: {p_wall:6.2f} s wall "
                    f"{p_cpu:6.2f} s CPU  peak RSS {p_rss:6.1f} MiB  reports {p_rep}  "
                    f"(\\Seen set: {seen_after_pm})"
                )
            # Ours once more (after parsedmarc), so a load spike from other jobs on a shared
            # machine does not decide the ratio alone; the better of the two runs counts.
            o2 = ours(dc, work, args.messages, run=1, batch=args.batch, tree=args.tree,
                      profile=args.profile, spy=args.spy)
            print(
                f"  tlsrpt-tui sync  {args.messages:>6} msgs: {o2.wall:6.2f} s wall "
                f"{o2.cpu_line()}  (second run{', profiled' if args.profile else ''})  "
                f"reports {o2.reports}"
            )
            wires = []
            for wire_batch in args.wire_batch or [args.batch]:
                w_wall, w_cpu, w_rss = wire_run(dc, work, wire_batch)
                wires.append(w_wall)
                print(
                    f"  aioimaplib wire  {args.messages:>6} msgs: {w_wall:6.2f} s wall "
                    f"{w_cpu:6.2f} s CPU  peak RSS {w_rss:6.1f} MiB  (FETCHes of {wire_batch}, "
                    f"fetch only; Dovecot {AROUND[0][0]:.2f} s CPU)"
                )
            o1_walls = []
            for wire_batch in (args.wire_batch or [args.batch]) if args.wire_o1 else []:
                w_wall, w_cpu, w_rss = wire_run(dc, work, wire_batch, o1=True)
                o1_walls.append(w_wall)
                print(
                    f"  aioimaplib O(1)  {args.messages:>6} msgs: {w_wall:6.2f} s wall "
                    f"{w_cpu:6.2f} s CPU  peak RSS {w_rss:6.1f} MiB  (FETCHes of {wire_batch}, "
                    f"its FETCH check patched to O(1) a line)"
                )
            w_wall = min(wires)
            best = o1 if o1.wall <= o2.wall else o2
            pm = ""
            if not args.no_parsedmarc:
                pm = (f"ratio parsedmarc/tlsrpt-tui: wall {p_wall / best.wall:.1f}x, "
                      f"CPU {p_cpu / best.cpu:.1f}x (target >= 8x); ")
            print(
                f"  {pm}ours/wire limit: {best.wall / w_wall:.2f}x (target <= 2x); "
                f"messages/s: ours {args.messages / best.wall:.0f}"
                + (f", parsedmarc {args.messages / p_wall:.0f}" if p_wall else "")
                + f"; peak RSS ours {o1.rss:.0f} MiB"
                + (f" vs {p_rss:.0f} MiB" if p_rss else "")
            )
            if o1_walls:
                print(f"  ours / aioimaplib without its quadratic check: "
                      f"{best.wall / min(o1_walls):.2f}x")
            print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        dc.stop()


if __name__ == "__main__":
    main()
