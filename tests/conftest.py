"""Shared test configuration. Peer fixtures live in tests/peers/ (one module per real server)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from peers.postgres import (  # noqa: F401  (fixtures: the PostgreSQL peer, both backends)
    db_backend,
    db_location,
    new_db,
    pg_location,
    postgres_server,
)
from peers.tls import tls_peers  # noqa: F401  (session fixture: HTTPS + STARTTLS peers)

REPO = Path(__file__).resolve().parent.parent

# A suite started under nohup, or as a background job of a script, inherits SIGHUP and SIGINT
# ignored, and so would every process it starts (an ignored signal stays ignored across exec):
# the tests that stop a real `sync --watch` with SIGINT or the TUI's parent with SIGHUP would
# wait for ever. The defaults are put back, so the suite runs the same however it is started.
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
SAMPLES = REPO.parent / "shared" / "samples"

#: The modules that take longest (each 70-210 s of test time in a run of the whole suite on
#: three workers and two CPUs), longest first. Why: the workers take a module at a time
#: (``--dist loadfile``) in collection order, and alphabetically the three ~200 s key tests
#: came last: the run ended with one worker still on them while the others sat idle. Started
#: first, the short modules fill in around them. A module not named here keeps its place.
SLOW_MODULES = (
    "test_ui_keys_reports.py", "test_ui_keys_summaries.py", "test_ui_keys_screens.py",
    "test_snapshots.py", "test_workers.py", "test_watch_alerts.py", "test_ui_daily.py",
    "test_faults_imap.py", "test_ui_app.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect SLOW_MODULES first (a stable sort: every module's tests keep their order)."""
    rank = {name: n for n, name in enumerate(SLOW_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_MODULES)))


@pytest.fixture
def samples_dir() -> Path:
    """The real reports of ../shared/samples; tests that need them skip when it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not present")
    return SAMPLES
