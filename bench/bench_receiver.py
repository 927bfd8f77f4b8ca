"""HTTPS receiver throughput: reports stored per second with a real HTTP client.

Starts the real ``python -m tlsrpt_tui receive`` (its own process, a fresh store) and, side by
side in the same run, a bare aiohttp server that only reads each body and answers 201 (the
ceiling the HTTP stack and the client allow on this box). A httpx.AsyncClient posts N distinct
gzip reports (application/tlsrpt+gzip) with C connections to each; prints reports/s of both and
the ratio, and each server's CPU time per report. The target is >= 500 reports/s stored.

    .venv/bin/python bench/bench_receiver.py [--reports 3000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent

BARE_SERVER = """
import sys
from aiohttp import web
async def handle(request):
    await request.read()
    return web.Response(status=201, text="stored 1 report\\n")
app = web.Application(client_max_size=10 * 2**20)
app.router.add_post("/tlsrpt", handle)
async def main():
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}/tlsrpt", flush=True)
    import asyncio
    await asyncio.Event().wait()
import asyncio
asyncio.run(main())
"""


def make_reports(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        rep = {
            "organization-name": f"Bench Sender {i % 7}",
            "date-range": {"start-datetime": "2026-05-11T00:00:00Z",
                           "end-datetime": "2026-05-11T23:59:59Z"},
            "contact-info": "tlsrpt@sender.example",
            "report-id": f"bench-{i}",
            "policies": [{
                "policy": {"policy-type": "sts",
                           "policy-string": ["version: STSv1", "mode: enforce",
                                             "mx: mx.example.org", "max_age: 86400"],
                           "policy-domain": f"d{i % 40}.example.org",
                           "mx-host": ["mx.example.org"]},
                "summary": {"total-successful-session-count": 100 + i,
                            "total-failure-session-count": i % 3},
                "failure-details": [{"result-type": "certificate-expired",
                                     "sending-mta-ip": "192.0.2.1",
                                     "receiving-mx-hostname": "mx.example.org",
                                     "failed-session-count": i % 3}] if i % 3 else [],
            }],
        }
        out.append(gzip.compress(json.dumps(rep).encode(), mtime=0))
    return out


def start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.match(r"listening on (\S+)", line)
    if m is None:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, m.group(1)


CLIENT = os.environ.get("BENCH_CLIENT", "aiohttp")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one server process so far (the load-independent part of a run:
    on a shared 2-core box the wall time also measures everyone else's jobs)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, dict[int, int]]:
    """Post every body with ``concurrency`` keep-alive connections; (seconds, status counts)."""
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Content-Type": "application/tlsrpt+gzip"}
    if CLIENT == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        session: object = httpx.AsyncClient(limits=limits, timeout=120)
    else:
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def post(body: bytes) -> int:
        if isinstance(session, httpx.AsyncClient):
            return (await session.post(url, content=body, headers=headers)).status_code
        async with session.post(url, data=body, headers=headers) as r:  # type: ignore[attr-defined]
            await r.read()
            return int(r.status)

    async def worker() -> None:
        while not queue.empty():
            status = await post(queue.get_nowait())
            statuses[status] = statuses.get(status, 0) + 1

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, statuses
    finally:
        await session.aclose() if isinstance(session, httpx.AsyncClient) else (
            await session.close())  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    bodies = make_reports(args.reports)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    env["PYTHONPATH"] = str(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        env["XDG_CONFIG_HOME"] = str(Path(tmp) / "xdg")
        ours, ours_url = start([sys.executable, "-m", "tlsrpt_tui", "receive", "--db", str(db),
                                "--listen", "127.0.0.1:0", "--rate-limit", "0"], env)
        bare, bare_url = start([sys.executable, "-c", BARE_SERVER], env)
        try:
            asyncio.run(post_all(bare_url, bodies[:100], 10))  # warm both up
            ours_cpu, bare_cpu = cpu_seconds(ours.pid), cpu_seconds(bare.pid)
            ours_time, ours_status = asyncio.run(post_all(ours_url, bodies, args.concurrency))
            bare_time, bare_status = asyncio.run(post_all(bare_url, bodies, args.concurrency))
            ours_cpu = cpu_seconds(ours.pid) - ours_cpu
            bare_cpu = cpu_seconds(bare.pid) - bare_cpu
        finally:
            for proc in (ours, bare):
                proc.terminate()
                proc.wait(10)
        conn = sqlite3.connect(db)
        stored = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
        conn.close()
    n = args.reports
    print(f"load before/after: {os.getloadavg()[0]:.2f}")
    print(f"tlsrpt-tui receive: {n} posts in {ours_time:.2f} s = {n / ours_time:.0f} reports/s "
          f"stored ({stored} in the store; statuses {ours_status})")
    print(f"bare aiohttp (read + 201, stores nothing): {n / bare_time:.0f} posts/s "
          f"(statuses {bare_status})")
    print(f"ratio ours / bare: {bare_time / ours_time:.2f}")
    print(f"server CPU per report: ours {ours_cpu / n * 1000:.2f} ms, bare "
          f"{bare_cpu / n * 1000:.2f} ms (one core at ours' CPU: {n / ours_cpu:.0f} reports/s)")
    if stored != n:
        raise SystemExit(f"only {stored} of {n} reports stored")


if __name__ == "__main__":
    main()
