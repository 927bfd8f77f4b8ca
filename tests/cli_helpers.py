"""Run the real ``tlsrpt-tui`` command in a subprocess (as a user would), with a private store."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str | Path, db: Any = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``tlsrpt-tui ARGS`` (``--db DB`` after the subcommand when given). The user's data and
    config dirs point into the store's folder so a test can never touch a real store.

    ``db`` is an SQLite path or a PostgreSQL store location (tests/peers/postgres.py): its URL
    goes on the command line and its password in libpq's ``PGPASSWORD``, as a user's would."""
    argv = [sys.executable, "-m", "tlsrpt_tui", *map(str, args)]
    if db is not None:
        argv[4:4] = ["--db", str(db)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    full_env["PYTHONPATH"] = str(REPO)
    password = getattr(db, "password", None)
    if password:
        full_env["PGPASSWORD"] = password
        home = Path(tempfile.gettempdir()) / f"tlsrpt-cli-{os.getpid()}"
    elif db is not None:
        home = Path(db).parent
    if db is not None:
        full_env["XDG_DATA_HOME"] = str(home / "xdg-data")
        full_env["XDG_CONFIG_HOME"] = str(home / "xdg-config")
    if env:
        full_env.update(env)
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=full_env, cwd=cwd or REPO
    )
