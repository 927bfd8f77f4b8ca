"""The systemd unit in docs/ (alerts.md: "runs it as an unprivileged user with its secrets
from the environment") stays a unit systemd accepts and a command line ``watch`` accepts:
an option renamed in the CLI, a typo in a directive or a secret pasted into the file fails
here rather than on an admin's host."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tlsrpt_tui.cli import build_parser
from tlsrpt_tui.commands.watch_cmd import _check_metrics

UNIT = Path(__file__).resolve().parent.parent / "docs" / "tlsrpt-tui.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # directives are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_runs_watch_unprivileged_with_secrets_from_the_environment() -> None:
    service = _unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "tlsrpt-tui"
    args = build_parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown option
    assert args.command == "watch" and not args.once
    assert args.config and args.db and _check_metrics(args.metrics)
    assert service["User"] not in ("", "root", "0")
    assert service["EnvironmentFile"].startswith("/etc/")
    # exit 2 is a config error: systemd must not restart into it again and again
    assert service["RestartPreventExitStatus"] == "2"
    assert service["KillSignal"] == "SIGTERM"
    directives = [line for line in UNIT.read_text().splitlines()
                  if line.strip() and not line.lstrip().startswith("#")]
    assert not any("password" in line.lower() or "secret=" in line.lower()
                   for line in directives), "no secret in the unit itself"


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (scripts/test-all installs systemd)")
    # The unit as installed, its ExecStart pointing at this checkout's entry point.
    here = Path(sys.executable).with_name("tlsrpt-tui")
    text = UNIT.read_text().replace("/usr/local/bin/tlsrpt-tui", str(here))
    unit = tmp_path / "tlsrpt-tui.service"
    unit.write_text(text)
    done = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "tlsrpt-tui.service" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
