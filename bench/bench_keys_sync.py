"""Benchmark: a keystroke in the real TUI while it syncs a big folder from a real Dovecot.

Run from the repo root, as root (it starts a private Dovecot like the tests do):

    .venv/bin/python bench/bench_keys_sync.py [--messages 30000] [--rounds 10]

It loads N generated TLS-RPT report mails into the Dovecot INBOX, starts the installed
``tlsrpt-tui`` on a fresh store in a 120x40 tmux (its IMAP watch starts the first sync at
once), and while the sync runs presses ``?`` (help) and Escape ``--rounds`` times, timing each
``?`` from ``tmux send-keys`` until ``capture-pane`` shows the help (polled every 5 ms; the
same for Escape until it is gone). Then, once the sync has stored every report, the same
rounds on the idle app. It prints median and worst of each, and the ratio busy/idle. Keys and
looks go through one tmux control-mode client (``tmux -C``), not a ``tmux`` process each.
Targets (issue 11): busy median <= 150 ms, <= 2x idle, worst <= 400 ms. The timings include
tmux's own round trip (send-keys, capture-pane: a few ms each), on both sides.

Last, the idle cost: the CPU time the app's process, and separately the processes it started
(its sync process and that one's parser helpers), used over ``--idle-seconds`` of the app left
alone with every report stored (its folder watcher in IMAP IDLE). ``--exe`` runs another
installed ``tlsrpt-tui`` (an older checkout's, for a before/after comparison).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from peers.dovecot import start_dovecot  # noqa: E402
from peers.tlsrpt_mail import google_report, microsoft_report  # noqa: E402

PASSWORD_ENV = "TLSRPT_BENCH_IMAP_PASSWORD"
EXE = REPO / ".venv" / "bin" / "tlsrpt-tui"
HELP = "tlsrpt-tui help"


class Tmux:
    """The app in a tmux server of its own, driven and read through ONE control-mode client
    (``tmux -C``): a key or a look at the screen is a line to it, not a new ``tmux`` process
    (at a poll every few ms, starting those cost the shared box more CPU than the app used)."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.socket = f"tlsrpt-bench-{uuid.uuid4().hex[:8]}"
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-s", "app", "-x", "120",
                        "-y", "40", f"env TERM=xterm-256color {prefix} {command}; sleep 600"],
                       check=True, timeout=20)
        # the control client must not resize the window to its own size
        subprocess.run(["tmux", "-L", self.socket, "set-option", "-t", "app", "window-size",
                        "manual"], check=True, timeout=20)
        self.control = subprocess.Popen(["tmux", "-L", self.socket, "-C", "attach", "-t", "app"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1)
        self._reply()  # the attach's own
        self._tmux("refresh-client", "-f", "no-output")  # no copy of the app's output

    def _reply(self) -> str:
        assert self.control.stdout is not None
        lines: list[str] = []
        inside = False
        while True:
            line = self.control.stdout.readline()
            if not line:
                raise SystemExit("the tmux control client ended")
            if line.startswith("%begin"):
                inside, lines = True, []
            elif inside and line.startswith(("%end", "%error")):
                if line.startswith("%error"):
                    raise SystemExit(f"tmux: {''.join(lines).strip()}")
                return "".join(lines)
            elif inside:
                lines.append(line)

    def _tmux(self, *args: str) -> str:
        assert self.control.stdin is not None
        self.control.stdin.write(" ".join(shlex.quote(a) for a in args) + "\n")
        self.control.stdin.flush()
        return self._reply()

    def key(self, key: str) -> None:
        self._tmux("send-keys", "-t", "app", key)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "app")

    def wait(self, predicate, timeout: float = 30.0) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.005)
        raise SystemExit(f"timed out; the screen was:\n{self.screen()}")

    def pane_pid(self) -> int:
        return int(self._tmux("display", "-p", "-t", "app", "#{pane_pid}"))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       check=False)
        self.control.wait(10)


def rounds(tui: Tmux, n: int) -> tuple[list[float], list[float]]:
    """n times: ? until the help shows, Escape until it is gone; milliseconds each."""
    opened, closed = [], []
    for _ in range(n):
        t = time.perf_counter()
        tui.key("?")
        tui.wait(lambda s: HELP in s)
        opened.append((time.perf_counter() - t) * 1000)
        time.sleep(0.1)
        t = time.perf_counter()
        tui.key("Escape")
        tui.wait(lambda s: HELP not in s)
        closed.append((time.perf_counter() - t) * 1000)
        time.sleep(0.3)  # Escape's sequence timeout passes before the next key
    return opened, closed


def parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(tui: Tmux, seconds: float) -> tuple[float, float, int]:
    """CPU ms per second of (the app's process, the processes under it) over ``seconds``,
    and how many processes were under it."""
    tree = parents()
    [app] = [p for p, parent in tree.items() if parent == tui.pane_pid()]

    def under() -> list[int]:
        tree = parents()
        found, todo = [], [app]
        while todo:
            pid = todo.pop()
            kids = [p for p, parent in tree.items() if parent == pid]
            found += kids
            todo += kids
        return found

    kids = under()
    before = cpu_seconds(app), {k: cpu_seconds(k) for k in kids}
    time.sleep(seconds)
    after = cpu_seconds(app), {k: cpu_seconds(k) for k in under()}
    children = sum(v - before[1].get(k, 0.0) for k, v in after[1].items())
    return (after[0] - before[0]) * 1000 / seconds, children * 1000 / seconds, len(after[1])


def reports(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM reports").fetchone()[0])
    except sqlite3.Error:
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--exe", type=Path, default=EXE, help="the tlsrpt-tui to run")
    args = ap.parse_args()
    dc = start_dovecot()
    tui = None
    try:
        with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-keys-") as tmp:
            work = Path(tmp)
            dc.reset()
            dc.append_maildir(
                (google_report(i) if i % 2 else microsoft_report(i, failures=i % 7 == 0))
                for i in range(args.messages)
            )
            assert len(dc.uids()) == args.messages
            cfg = work / "config.toml"
            cfg.write_text(
                "[[accounts]]\n"
                'name = "bench"\n'
                f'host = "{dc.host}"\nport = {dc.imaps_port}\nsecurity = "tls"\n'
                f'username = "{dc.user}"\npassword_env = "{PASSWORD_ENV}"\n'
                f'ca_file = "{dc.ca_file}"\nfolders = ["INBOX"]\n'  # the default batch size
            )
            db = work / "store.sqlite3"
            env = {PASSWORD_ENV: dc.password, "TLSRPT_TUI_DB": str(db),
                   "HOME": str(work), "XDG_CONFIG_HOME": str(work), "XDG_DATA_HOME": str(work)}
            tui = Tmux(f"{shlex.quote(str(args.exe))} --config {shlex.quote(str(cfg))}", env)
            tui.wait(lambda s: "syncing" in s, 60)
            started = reports(db)
            busy_open, busy_close = rounds(tui, args.rounds)
            during = reports(db)
            print(f"{args.messages:,} mails; rounds while syncing ran from {started:,} to "
                  f"{during:,} reports stored")
            if during >= args.messages:
                print("  warning: the sync finished during the busy rounds; use more mail")
            deadline = time.monotonic() + 900
            while reports(db) < args.messages and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)
            idle_open, idle_close = rounds(tui, args.rounds)
            time.sleep(2)
            app_cpu, children_cpu, nchildren = idle_cpu(tui, args.idle_seconds)
    finally:
        if tui is not None:
            tui.close()
        dc.stop()

    def line(label: str, xs: list[float]) -> str:
        return f"  {label:<28} median {statistics.median(xs):7.1f} ms   worst {max(xs):7.1f} ms"

    print(line("? while syncing", busy_open))
    print(line("Escape while syncing", busy_close))
    print(line("? idle", idle_open))
    print(line("Escape idle", idle_close))
    print(f"  idle CPU over {args.idle_seconds:.0f} s: the app's process {app_cpu:.1f} ms/s, "
          f"the {nchildren} process(es) it started {children_cpu:.1f} ms/s")
    busy, idle = statistics.median(busy_open), statistics.median(idle_open)
    print(f"  ? busy/idle: {busy / idle:.2f}x (target <= 2x); busy median {busy:.0f} ms "
          f"(target <= 150 ms), worst {max(busy_open):.0f} ms (target <= 400 ms); load "
          f"{os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
