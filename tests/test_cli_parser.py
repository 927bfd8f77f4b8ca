"""The command line's parser loads only the module of the command it is given."""

from __future__ import annotations

import json
import subprocess
import sys

from cli_helpers import REPO

from tlsrpt_tui.cli import COMMANDS, build_parser

PROBE = r"""
import json, sys
from tlsrpt_tui.cli import build_parser
argv = sys.argv[1:]
args = build_parser(argv).parse_args(argv)
loaded = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("tlsrpt_tui.commands."))
print(json.dumps({"command": args.command, "loaded": loaded}))
"""


def probe(*argv: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out))


def test_one_named_command_loads_its_module_alone() -> None:
    got = probe("--db", "x.sqlite3", "sync", "--config", "c.toml")
    assert got["command"] == "sync"
    # sync_cmd itself uses import_cmd's store opener; no other command's module is loaded
    assert set(got["loaded"]) <= {"sync_cmd", "import_cmd"}, got["loaded"]
    assert probe("overview")["loaded"] == ["tables_cmd"]


def test_values_that_look_like_commands_still_parse_right() -> None:
    # a config file named like a command, and no command: the TUI
    args = build_parser(["--config", "sync"]).parse_args(["--config", "sync"])
    assert (args.command, args.config) == (None, "sync")
    # a file named like a command: every command is loaded, the file is import's path
    argv = ["import", "sync"]
    args = build_parser(argv).parse_args(argv)
    assert args.command == "import" and "sync" in [str(p) for p in args.paths]
    assert len(probe("import", "sync")["loaded"]) == len(set(COMMANDS.values()))


def test_help_without_a_command_lists_every_command() -> None:
    text = build_parser(["--help"]).format_help()
    for name in COMMANDS:
        assert name in text
