"""Shared test configuration. Peer fixtures live in tests/peers/ (one module per real server)."""

from __future__ import annotations

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
SAMPLES = REPO.parent / "shared" / "samples"


@pytest.fixture
def samples_dir() -> Path:
    """The real reports of ../shared/samples; tests that need them skip when it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not present")
    return SAMPLES
