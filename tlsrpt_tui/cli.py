"""Command-line front: argparse, one module per subcommand under ``tlsrpt_tui/commands/``.

Each command module defines ``HELP`` (one line, or a dict by command name when one module
serves several), ``add_arguments(parser, name)`` and ``run(args) -> int`` (``args.command``
names the subcommand). Running with no subcommand opens the TUI. Exit codes: 0 ok, 1 the command
ran but found a problem (rejected input, an error finding), 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence
from typing import TextIO

from tlsrpt_tui import __version__

#: Subcommand name → module under tlsrpt_tui.commands (module names avoid keywords).
COMMANDS: dict[str, str] = {
    "import": "import_cmd",
    "reparse": "reparse_cmd",
    "overview": "tables_cmd",
    "policies": "tables_cmd",
    "failures": "tables_cmd",
    "inbox": "inbox_cmd",
    "show": "show_cmd",
    "check": "check_cmd",
    "status": "status_cmd",
    "readiness": "readiness_cmd",
    "records": "records_cmd",
    "sync": "sync_cmd",
    "watch": "watch_cmd",
    "receive": "receive_cmd",
    "migrate": "migrate_cmd",
}

#: The commands that only read the store, and so can run on the demo data (``--demo``).
DEMO_COMMANDS = ("overview", "policies", "failures", "inbox", "show", "status", "readiness")


def add_common_arguments(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    # On a subcommand the defaults are SUPPRESSed: otherwise the subparser's None would
    # overwrite a value given before the subcommand (`tlsrpt-tui --db X import ...`).
    default = argparse.SUPPRESS if sub else None
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        default=default,
        help="the store: an SQLite file, or postgresql://USER@HOST:PORT/DB (no password in it)"
        " (default: $TLSRPT_TUI_DB, [store] url, or the SQLite file in the user data dir)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="config file (default: user config dir, or $TLSRPT_TUI_CONFIG)",
    )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or, given the ``argv`` to parse, of the one command it
    names (and the global options).

    Why: each command's module is imported to add its arguments, and the fifteen of them
    cost about a quarter of a second of start-up (the store, the checks, DNS, HTTP, the
    receiver) that a ``sync`` or an ``import`` then waits for. When exactly one command
    name appears among the arguments, only that module is loaded; a value that happens to
    equal a command's name (``--config sync``) is still parsed right, since a subcommand is
    only taken from a positional. Anything else (no command, ``--help``, two names, a typo)
    gets every command, so usage and errors list them all.
    """
    parser = argparse.ArgumentParser(
        prog="tlsrpt-tui",
        description=(
            "Watch SMTP TLS Reporting (RFC 8460), MTA-STS and DANE for your mail domains. "
            "With no command, opens the terminal UI."
        ),
    )
    parser.add_argument("--version", action="version", version=f"tlsrpt-tui {__version__}")
    add_common_arguments(parser)
    parser.add_argument(
        "--demo", action="store_true",
        help="open the UI on bundled demo data (a throw-away store); also runs the read-only"
        f" commands ({', '.join(DEMO_COMMANDS)}) on it",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    named = {a for a in argv or () if a in COMMANDS}
    commands = COMMANDS if len(named) != 1 else {n: COMMANDS[n] for n in named}
    for name, module_name in commands.items():
        module = _load(module_name)
        if module is None:
            continue
        help_text = module.HELP[name] if isinstance(module.HELP, dict) else module.HELP
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        add_common_arguments(cmd, sub=True)
        module.add_arguments(cmd, name)
        cmd.set_defaults(_module=module)
    return parser


def _load(module_name: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(f"tlsrpt_tui.commands.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"tlsrpt_tui.commands.{module_name}":
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        from tlsrpt_tui.ui.run import run_tui

        return run_tui(args)
    if args.demo and args.command not in DEMO_COMMANDS:
        print(f"tlsrpt-tui: --demo does not apply to {args.command}: it runs the UI and the"
              f" read-only commands ({', '.join(DEMO_COMMANDS)}) on demo data", file=sys.stderr)
        return 2
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = terminal_streams(args, stdout, stderr)
    try:
        if args.demo:
            return _run_on_demo(args)
        return int(args._module.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout, sys.stderr = stdout, stderr


def _run_on_demo(args: argparse.Namespace) -> int:
    """A read-only command on the demo data: the UI's throw-away store and domains, in a
    temporary directory removed afterwards (the user's own store and config are not read)."""
    import logging
    import tempfile
    from pathlib import Path

    from tlsrpt_tui.demo.store import DEMO_DOMAINS, build_demo_store

    with tempfile.TemporaryDirectory(prefix="tlsrpt-demo-") as tmp:
        logging.disable(logging.WARNING)  # the demo's alerts are data here, not news
        try:
            store, _summary = build_demo_store(Path(tmp) / "demo.sqlite3")
        finally:
            logging.disable(logging.NOTSET)
        store.close()
        config = Path(tmp) / "demo.toml"
        config.write_text("domains = [" + ", ".join(f'"{d}"' for d in DEMO_DOMAINS) + "]\n")
        args.db, args.config = str(Path(tmp) / "demo.sqlite3"), str(config)
        return int(args._module.run(args))


def terminal_streams(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO
) -> tuple[TextIO, TextIO]:
    """stdout and stderr for a subcommand, through the one sanitiser (core.terminal_text).

    Every text-mode output is sanitised; CSV and JSON (and ``show --raw``) stay exact when
    they go to a file or a pipe, since a program reads them there; on a terminal they are
    sanitised too (CSV shows ESC as a visible escape; JSON escapes C0 controls itself, the
    rest becomes a JSON escape). stderr carries messages only: always sanitised."""
    from tlsrpt_tui.core.terminal_text import SafeStream

    data = getattr(args, "format", None) in ("csv", "json") or getattr(args, "raw", False)
    out: TextIO = stdout if data and not _isatty(stdout) else SafeStream(stdout)  # type: ignore[assignment]
    return out, SafeStream(stderr)  # type: ignore[return-value]


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


if __name__ == "__main__":
    raise SystemExit(main())
