"""Importing report files, mboxes and Maildirs from paths: ``tlsrpt-tui import``.

Enumeration (service/sources.py) and ingestion (service/ingest.py) are both streams, so an
import of a 2 GB mbox holds one batch of messages in memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from tlsrpt_tui.core.parse import DEFAULT_LIMITS, Limits
from tlsrpt_tui.service.dkim import DkimChecker, annotate_stream
from tlsrpt_tui.service.ingest import (
    IngestOutcome,
    IngestSummary,
    ProgressCallback,
    ingest_stream,
)
from tlsrpt_tui.service.sources import iter_inputs
from tlsrpt_tui.store.database import Store


def import_paths(
    store: Store,
    paths: Iterable[Path | str],
    limits: Limits = DEFAULT_LIMITS,
    on_progress: ProgressCallback | None = None,
    *,
    batch_size: int = 500,
    on_outcome: Callable[[IngestOutcome], None] | None = None,
    workers: int = 0,
    dkim: DkimChecker | None = None,
) -> IngestSummary:
    """Ingest every input found under ``paths``; one committed transaction per batch.

    ``workers`` parser processes run one batch ahead of the writer (see ingest_stream).
    With ``dkim``, mail is DKIM-verified as it is read and the verdict stored with it."""
    inputs = iter_inputs(paths, limits)
    return ingest_stream(
        store,
        annotate_stream(inputs, dkim) if dkim is not None else inputs,
        limits,
        batch_size=batch_size,
        on_progress=on_progress,
        on_outcome=on_outcome,
        workers=workers,
    )
