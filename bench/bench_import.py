"""Benchmark: `tlsrpt-tui import` of N report mails into a fresh store vs parsedmarc parse-only.

Run from the repo root with the bench venv (it holds parsedmarc 11.x and our package):

    bench/.venv/bin/python bench/bench_import.py [--messages 10000] [--small 2000]

It generates N Google-like report mails (multipart/report, text part + gzip attachment in
base64; varied senders, domains, dates, some failure details) into a temporary directory, then,
in one run:

1. times the real command, ``python -m tlsrpt_tui import DIR --db fresh.sqlite3``, end to end
   (process start, directory walk, parse, store raw bytes + reports, commit per batch);
2. times ``parsedmarc.parse_report_email(msg, offline=True)`` over the same messages, parse
   only (no storage), in this process;
3. prints the ratio parsedmarc / ours (target >= 6x) and the import's peak RSS for the small
   and the full set (memory should stay flat: the import streams batches).

Not part of the test suite's pass/fail.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from installed import compile_package

REPO = Path(__file__).resolve().parent.parent

try:
    import parsedmarc  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - the bench needs its venv
    sys.exit("parsedmarc is not importable: run with bench/.venv/bin/python (see bench/README.md)")

logging.getLogger("parsedmarc").setLevel(logging.CRITICAL)

SENDERS = (
    ("Google Inc.", "google.com", "smtp-tls-reporting@google.com"),
    ("Microsoft Corporation", "microsoft.com", "tlsrpt-noreply@microsoft.com"),
    ("Mail.ru", "mail.ru", "tls_support@corp.mail.ru"),
    ("mx.selfhosted.example", "selfhosted.example", "postmaster@selfhosted.example"),
)
RESULT_TYPES = ("certificate-expired", "validation-failure", "starttls-not-supported",
                "certificate-host-mismatch", "sts-policy-fetch-error")


def make_report(i: int, rnd: random.Random) -> tuple[dict, str, str]:
    org, submitter, contact = SENDERS[i % len(SENDERS)]
    domain = f"domain{rnd.randrange(40)}.example"
    day = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rnd.randrange(500))
    start = day.strftime("%Y-%m-%dT00:00:00Z")
    end = day.strftime("%Y-%m-%dT23:59:59Z")
    failed = 0
    details = []
    if rnd.random() < 0.2:
        for k in range(rnd.randrange(1, 4)):
            n = rnd.randrange(1, 20)
            failed += n
            details.append({
                "result-type": RESULT_TYPES[(i + k) % len(RESULT_TYPES)],
                "sending-mta-ip": f"192.0.2.{rnd.randrange(1, 255)}",
                "receiving-mx-hostname": f"mx{k + 1}.{domain}",
                "receiving-ip": f"198.51.100.{rnd.randrange(1, 255)}",
                "failed-session-count": n,
            })
    policy = {
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx1.{domain}",
                              f"mx: mx2.{domain}", "max_age: 604800"],
            "policy-domain": domain,
            "mx-host": [f"mx1.{domain}", f"mx2.{domain}"],
        },
        "summary": {
            "total-successful-session-count": rnd.randrange(0, 5000),
            "total-failure-session-count": failed,
        },
    }
    if details:
        policy["failure-details"] = details
    report_id = f"{start}_{domain}_{i}"
    return ({
        "organization-name": org,
        "date-range": {"start-datetime": start, "end-datetime": end},
        "contact-info": contact,
        "report-id": report_id,
        "policies": [policy],
    }, submitter, domain)


def make_mail(i: int, rnd: random.Random) -> bytes:
    rep, submitter, domain = make_report(i, rnd)
    gz = gzip.compress(json.dumps(rep).encode(), mtime=0)
    b64 = base64.encodebytes(gz).decode().replace("\n", "\r\n")
    boundary = f"00000000000{i:08x}"
    date = datetime(2026, 5, 11, 12, 0, tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    fname = f"{submitter}!{domain}!{i}!{i + 86399}!001.json.gz"
    return (
        "Return-Path: <noreply-smtp-tls-reporting@google.com>\r\n"
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=google.com; s=20230601;"
        " h=to:from:subject:message-id:date:mime-version; bh=AAAA; b=BBBB\r\n"
        "MIME-Version: 1.0\r\n"
        f"From: noreply-smtp-tls-reporting@{submitter}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <{i:012d}@{submitter}>\r\n"
        f"Subject: Report Domain: {domain} Submitter: {submitter}\r\n"
        f" Report-ID: <{rep['report-id']}@{submitter}>\r\n"
        f"To: tlsrpt@{domain}\r\n"
        f"TLS-Report-Domain: {domain}\r\n"
        f"TLS-Report-Submitter: {submitter}\r\n"
        f'Content-Type: multipart/report; boundary="{boundary}"; report-type="tlsrpt"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes\r\n\r\n'
        f"This is an aggregate TLS report from {submitter}\r\n\r\n"
        f"--{boundary}\r\n"
        f'Content-Type: application/tlsrpt+gzip; name="{fname}"\r\n'
        f'Content-Disposition: attachment; filename="{fname}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{b64}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def generate(directory: Path, n: int, seed: int = 8460) -> list[Path]:
    rnd = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = directory / f"{i:06d}.eml"
        path.write_bytes(make_mail(i, rnd))
        paths.append(path)
    return paths


def measured_import(directory: Path, db: Path, tree: Path = REPO) -> tuple[float, int, str, float]:
    """Run the import from a fresh helper interpreter so its peak RSS is that child's only.
    Returns wall seconds, peak RSS (KiB), its summary line and its CPU seconds (user + sys,
    its parser processes included)."""
    helper = (
        "import os, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "e = time.perf_counter() - t\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "sys.stderr.write(p.stderr.decode()[-2000:])\n"
        "print(p.returncode, e, ru.ru_maxrss, ru.ru_utime + ru.ru_stime,"
        " p.stdout.decode().strip(), sep='|')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run(
        [sys.executable, "-c", helper, sys.executable, "-m", "tlsrpt_tui", "import",
         str(directory), "--db", str(db)],
        # in ``tree``: ``python -m`` puts the current directory first on sys.path, before
        # PYTHONPATH, so from the repo root ``--tree`` timed this checkout's package
        capture_output=True, text=True, env=env, cwd=tree,
    )
    rc, elapsed, rss, cpu, line = res.stdout.strip().split("|", 4)
    if rc != "0":
        sys.exit(f"import failed ({rc}): {res.stderr}")
    return float(elapsed), int(rss), line, float(cpu)


def parsedmarc_parse_only(paths: list[Path]) -> tuple[float, int]:
    datas = [p.read_bytes() for p in paths]  # read up front: time the parsing only
    ok = 0
    t0 = time.perf_counter()
    for data in datas:
        try:
            r = parsedmarc.parse_report_email(data, offline=True)
        except Exception:
            continue
        if r:
            ok += 1
    return time.perf_counter() - t0, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=2_000)
    ap.add_argument("--tree", type=Path, default=REPO,
                    help="the checkout whose package is timed (default this one; another "
                         "checkout of an earlier commit gives a before/after in one run)")
    args = ap.parse_args()
    compile_package(args.tree)  # our modules start compiled, as installed (bench/installed.py)
    print(f"python {sys.version.split()[0]}, parsedmarc {parsedmarc.__version__}, "
          f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="tlsrpt-bench-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        paths = generate(root / "full", args.messages)
        small_dir = root / "small"
        small_dir.mkdir()
        for p in paths[: args.small]:
            os.link(p, small_dir / p.name)
        size = sum(p.stat().st_size for p in paths)
        print(f"generated {len(paths)} mails ({size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - t:.1f}s")

        s_time, s_rss, s_line, s_cpu = measured_import(small_dir, root / "small.sqlite3",
                                                       args.tree)
        ours, rss, line, cpu = measured_import(root / "full", root / "full.sqlite3", args.tree)
        theirs, parsed = parsedmarc_parse_only(paths)

        with sqlite3.connect(root / "full.sqlite3") as conn:
            reports = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
        db_size = (root / "full.sqlite3").stat().st_size

    n = len(paths)
    print()
    print(f"tlsrpt-tui import, {args.small} mails : {s_time:7.2f} s  CPU {s_cpu:6.2f} s  "
          f"peak RSS {s_rss / 1024:6.1f} MiB"
          f"  ({s_line})")
    print(f"tlsrpt-tui import, {n} mails: {ours:7.2f} s  CPU {cpu:6.2f} s  "
          f"peak RSS {rss / 1024:6.1f} MiB"
          f"  ({line}; {reports} reports, store {db_size / 1e6:.1f} MB)")
    print(f"parsedmarc parse only, {n} mails: {theirs:7.2f} s  ({parsed} parsed)")
    print()
    print(f"per message: ours {ours / n * 1e3:.3f} ms (import + store), "
          f"parsedmarc {theirs / n * 1e3:.3f} ms (parse only)")
    ratio = theirs / ours
    print(f"ratio parsedmarc/ours: {ratio:.1f}x (issue 11's target >= 6x) "
          f"{'OK' if ratio >= 6 else 'MISSED'}; load {os.getloadavg()[0]:.1f}")
    growth = rss / s_rss
    print(f"peak RSS {n} vs {args.small} mails: {growth:.2f}x "
          f"({'flat' if growth < 1.25 else 'GROWS'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
