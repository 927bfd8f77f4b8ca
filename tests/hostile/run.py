"""Run hostile cases, each in a forked child with a time bound and a memory measurement.

Usage: ``python tests/hostile/run.py GROUP|all [CASE ...]``; prints one JSON object per case:
``{"group", "name", "what", "ok", "outcome", "seconds", "peak_mb", "child_peak_mb",
"baseline_mb"}``: ``peak_mb`` is the RSS high-water mark over the calls under test only
(see ``cases.measured``), ``child_peak_mb`` that of the whole child, input building included.

Why fork per case: a hang is cut off by the parent (``--timeout``), a crash (even a segfault or
the OOM killer) fails that case only, and each case's memory is its own (the figures include the
interpreter and the imported parser, so they are upper bounds). The child also runs under
RLIMIT_AS so a memory blow-up becomes a MemoryError instead of a machine that swaps (the host
is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Imported before forking so the baseline (and each child's starting RSS) includes them.
import tlsrpt_tui.core.parse
import tlsrpt_tui.service.sources  # noqa: F401
from hostile.cases import CASES, PEAK_MB, Case

ADDRESS_SPACE = 3 * 1024**3


def _child(c: Case, wfd: int, tmp: Path) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    start = time.perf_counter()
    try:
        line = c.run(tmp)
        ok = True
    except BaseException as e:
        ok = False
        tb = traceback.extract_tb(e.__traceback__)[-1]
        line = f"{type(e).__name__}: {str(e)[:500]} (at {Path(tb.filename).name}:{tb.lineno})"
    seconds = time.perf_counter() - start
    child_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if ok and not PEAK_MB[0]:
        ok, line = False, "the case measured no call (wrap the code under test in measured())"
    msg = json.dumps(
        {"ok": ok, "outcome": line, "seconds": seconds, "peak_mb": PEAK_MB[0] or None,
         "child_peak_mb": child_peak}
    )
    os.write(wfd, msg.encode())
    os.close(wfd)


def _remove(tmp: Path) -> None:
    try:
        shutil.rmtree(tmp, ignore_errors=True)
    except RecursionError:  # a case built a tree deeper than shutil recurses
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def run_case(c: Case, timeout: float) -> dict:
    """Run one case in a forked child; the parent owns its scratch directory (so a killed
    child leaves nothing behind)."""
    tmp = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        return _run_case(c, timeout, tmp)
    finally:
        _remove(tmp)


def _run_case(c: Case, timeout: float, tmp: Path) -> dict:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(rfd)
        code = 0
        try:
            _child(c, wfd, tmp)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([rfd], [], [], left)
        if ready:
            data = os.read(rfd, 65536)
            if not data:
                break
            chunks.append(data)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    base = {"group": c.group, "name": c.name, "what": c.what}
    if timed_out:
        return base | {"ok": False, "outcome": f"hang: killed after {timeout:.0f} s",
                       "seconds": timeout, "peak_mb": None}
    if not chunks:
        return base | {"ok": False, "outcome": f"child died ({status=:#x})", "seconds": None,
                       "peak_mb": None}
    return base | json.loads(b"".join(chunks))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("group", help="a case group, or 'all'")
    ap.add_argument("cases", nargs="*", help="only these cases")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    args = ap.parse_args(argv)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    failed = 0
    for c in CASES:
        if args.group != "all" and c.group != args.group:
            continue
        if args.cases and c.name not in args.cases:
            continue
        result = run_case(c, args.timeout) | {"baseline_mb": baseline}
        failed += not result["ok"]
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
