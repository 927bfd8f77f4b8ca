"""``tlsrpt-tui`` with no subcommand: open the store and config, then run the app.

Configuration and store errors are one line on stderr and exit code 2 (before the terminal is
taken over), so a typo in the config is never hidden behind a full-screen UI.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path


def run_tui(args: argparse.Namespace) -> int:
    from tlsrpt_tui.service.config import ConfigError, load_config
    from tlsrpt_tui.store.database import StoreError, open_store

    # The screen shows what the services log (notifications, the sync line, the alerts
    # screen); a log line written to the terminal under the TUI would only garble it.
    logging.getLogger("tlsrpt_tui").addHandler(logging.NullHandler())
    if getattr(args, "demo", False):
        return _run_demo()
    try:
        config = load_config(args.config)
        store = open_store(args.db)
    except (ConfigError, StoreError) as exc:
        print(f"tlsrpt-tui: {exc}", file=sys.stderr)
        return 2
    from tlsrpt_tui.ui.app import TlsrptApp

    try:
        result = TlsrptApp(store, config).run()
    finally:
        store.close()
    return int(result or 0)


def _run_demo() -> int:
    """The demo runs on a throw-away store in a temporary directory, removed on exit."""
    from tlsrpt_tui.demo.store import build_demo_store, demo_config
    from tlsrpt_tui.ui.app import TlsrptApp

    with tempfile.TemporaryDirectory(prefix="tlsrpt-demo-") as tmp:
        store, _summary = build_demo_store(Path(tmp) / "demo.sqlite3")
        try:
            result = TlsrptApp(store, demo_config(), demo=True).run()
        finally:
            store.close()
    return int(result or 0)
