"""A `tlsrpt-tui import` killed with SIGKILL leaves no parser process behind.

Its parser processes are forked before it starts any thread and wait on a queue whose writing
end they inherited, so they never see EOF: without asking the kernel for a signal when their
parent dies they would stay for good (found after CI runs whose kill -9 trials left them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from peers.tlsrpt_mail import google_report

REPO = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_kill_9_of_import_ends_its_parser_processes(tmp_path: Path) -> None:
    mails = tmp_path / "mails"
    mails.mkdir()
    for i in range(3000):
        (mails / f"{i}.eml").write_bytes(google_report(i))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlsrpt_tui", "import", str(mails), "--jobs", "2", "--no-dkim",
         "--db", str(tmp_path / "s.sqlite3")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2:
            assert proc.poll() is None, "the import ended before its workers were seen"
            assert time.monotonic() < deadline, "no parser processes seen"
            workers = _children(proc.pid)
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers):
            assert time.monotonic() < deadline, f"parser processes left: {workers}"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
