"""``tlsrpt-tui`` with no subcommand: open the store and config, then run the app.

Configuration and store errors are one line on stderr and exit code 2 (before the terminal is
taken over), so a typo in the config is never hidden behind a full-screen UI. The app gets
the store only behind its service (``service.backend``): ui/ never opens SQLite itself.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path


def run_tui(args: argparse.Namespace) -> int:
    from tlsrpt_tui.service.backend import StoreError, open_backend
    from tlsrpt_tui.service.config import ConfigError, load_config
    from tlsrpt_tui.service.store_location import resolve

    # The screen shows what the services log (notifications, the sync line, the alerts
    # screen); a log line written to the terminal under the TUI would only garble it.
    logging.getLogger("tlsrpt_tui").addHandler(logging.NullHandler())
    if getattr(args, "demo", False):
        return _run_demo()
    try:
        config = load_config(args.config)
        backend = open_backend(resolve(args.db, config))
    except (ConfigError, StoreError) as exc:
        print(f"tlsrpt-tui: {exc}", file=sys.stderr)
        return 2
    from tlsrpt_tui.ui.app import TlsrptApp

    try:
        result = TlsrptApp(backend, config).run()
    finally:
        backend.close()
    return int(result or 0)


def _run_demo() -> int:
    """The demo runs on a throw-away store in a temporary directory, removed on exit."""
    from tlsrpt_tui.demo.store import build_demo_store, demo_config
    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.ui.app import TlsrptApp

    with tempfile.TemporaryDirectory(prefix="tlsrpt-demo-") as tmp:
        store, _summary = build_demo_store(Path(tmp) / "demo.sqlite3")
        backend = StoreBackend(store, owns_store=True)
        try:
            result = TlsrptApp(backend, demo_config(), demo=True).run()
        finally:
            backend.close()
    return int(result or 0)
