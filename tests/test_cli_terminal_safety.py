"""No subcommand prints a control sequence that came from a report to a terminal (issue 9).

A store holds a report full of OSC, CSI, BEL, C1 and bidi characters (organization, contact,
report-id, an unknown policy type, policy domain and strings, MX names, reasons, notes), an
unreadable input whose file name carries them, and a stored check result with them. Every
text subcommand and format is run by the real ``tlsrpt-tui`` under a pseudo-terminal (so it
sees a TTY, as a user's shell would), and the bytes the terminal receives are searched for
any control sequence. The same CSV and JSON sent to a pipe must keep the data exact.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import REPO, run_cli
from report_factory import failure, report, sts_policy, to_json

from tlsrpt_tui.core.findings import Finding, Severity
from tlsrpt_tui.store import checks as stored
from tlsrpt_tui.store.database import Store

OSC = "\x1b]0;pwned\x07"  # set the window title
OSC52 = "\x1b]52;c;ZWNobyBoaQ==\x07"  # write the clipboard
CSI = "\x1b[2J\x1b[31m"  # clear the screen, red
C1 = "\x9b31m\x9d0;x\x9c"  # 8-bit CSI and OSC
BIDI = "\u202e"
EVIL = f"EVIL{OSC}{CSI}{OSC52}{C1}{BIDI}\x07"
#: What must never reach the terminal: ESC, BEL, C1 controls, the bidi override.
FORBIDDEN = [b"\x1b", b"\x07", "\x9b".encode(), "\x9d".encode(), "\x9c".encode(), BIDI.encode()]


def hostile_report() -> dict:
    policy = sts_policy(
        f"evil{OSC}.example", 3, 2, mx=(f"mx{CSI}.evil.example",),
        details=[failure("certificate-expired", 2, mx=f"mx{OSC52}.example", code=f"why{C1}")],
    )  # fmt: skip
    policy["policy"]["policy-type"] = f"unknown-type{CSI}"  # show printed this one raw
    policy["policy"]["policy-string"].append(f"note: {EVIL}")
    rep = report(f"Org {EVIL}", f"rid{OSC}", "2026-05-04", [policy], contact=f"c{OSC52}@x")
    return rep


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("terminal")
    inputs = tmp / "inputs"
    inputs.mkdir()
    (inputs / "evil.json").write_bytes(to_json(hostile_report()))
    (inputs / f"broken{OSC}.json").write_bytes(b'{"organization-name": "X", "policies": 5}')
    path = tmp / "store.db"
    result = run_cli("import", inputs, db=path)
    assert result.returncode == 1, result.stderr  # the broken input is rejected
    with Store(path) as store:
        f = Finding("tls.host-mismatch", Severity.ERROR, f"mx{OSC}.example", f"cert {EVIL}")
        stored.save(store, {
            "domain": "evil.example", "checked_at": "2026-05-04T00:00:00+00:00",
            "status": "error", "records": {"mx": [f"10 mx{CSI}.example"]},
            "findings": [f.to_json()],
        })  # fmt: skip
    return path


def run_in_pty(*args: str, db: Path) -> tuple[int, bytes]:
    """``tlsrpt-tui ARGS`` with stdout and stderr on a pseudo-terminal; everything it wrote."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    env.update(PYTHONPATH=str(REPO), XDG_DATA_HOME=str(db.parent / "xdg-data"),
               XDG_CONFIG_HOME=str(db.parent / "xdg-config"), COLUMNS="200")  # fmt: skip
    argv = [sys.executable, "-m", "tlsrpt_tui", args[0], "--db", str(db), *args[1:]]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(30), bytes(out)


TEXT_RUNS = [
    ("overview",), ("policies",), ("failures",), ("inbox",), ("inbox", "--unreadable"),
    ("show", "1"), ("status", "evil.example"), ("readiness", "evil.example"),
]  # fmt: skip
FORMATS = {
    "overview": ("table", "csv", "json"), "policies": ("table", "csv", "json"),
    "failures": ("table", "csv", "json"), "inbox": ("table", "csv", "json"),
    "show": ("text", "json"), "status": ("table", "json"), "readiness": ("table", "json"),
}  # fmt: skip
CASES = [(*run, "--format", fmt) for run in TEXT_RUNS for fmt in FORMATS[run[0]]]


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) for c in CASES])
def test_no_control_sequence_reaches_the_terminal(db: Path, argv: tuple[str, ...]) -> None:
    code, out = run_in_pty(*argv, db=db)
    assert code in (0, 1), out.decode(errors="replace")
    for seq in FORBIDDEN:
        assert seq not in out, f"{seq!r} reached the terminal: {out[:2000]!r}"
    assert b"EVIL" in out or b"broken" in out or b"evil" in out  # the hostile data was shown


def test_show_prints_an_unknown_policy_type_visibly(db: Path) -> None:
    _, out = run_in_pty("show", "1", db=db)
    assert b"UNKNOWN-TYPE\\x1b[2J\\x1b[31M evil\\x1b]0;pwned\\x07.example" in out


def test_import_names_a_hostile_file_safely(tmp_path: Path) -> None:
    (tmp_path / f"bad{OSC}.json").write_bytes(b"not json")
    code, out = run_in_pty("import", str(tmp_path), db=tmp_path / "s.db")
    assert code == 1 and b"bad\\x1b]0;pwned\\x07.json" in out
    assert not any(seq in out for seq in FORBIDDEN)


def test_csv_and_json_to_a_pipe_are_exact(db: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(run_cli("inbox", "--format", "csv", db=db).stdout)))
    assert [r["Organization"] for r in rows] == [f"Org {EVIL}"]
    data = json.loads(run_cli("show", "1", "--format", "json", db=db).stdout)
    assert data["report"]["organization-name"] == f"Org {EVIL}"
    assert data["report"]["policies"][0]["policy"]["policy-type"] == f"unknown-type{CSI}"
    unreadable = json.loads(run_cli("inbox", "--unreadable", "--format", "json", db=db).stdout)
    assert unreadable["rows"][0]["source"].endswith(f"broken{OSC}.json")


def test_json_on_a_terminal_stays_valid_json(db: Path) -> None:
    _, out = run_in_pty("show", "1", "--format", "json", db=db)
    data = json.loads(out.decode().replace("\r\n", "\n"))
    assert data["report"]["organization-name"] == f"Org {EVIL}"  # escaped, not lost
