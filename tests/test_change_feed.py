"""TUIs on other machines see what a worker commits within moments: PostgreSQL's NOTIFY from
the writing transaction (migration 008), the change counter polled otherwise."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from peers.tlsrpt_mail import fresh_report

from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.store import checks
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui import app as app_module
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.widgets.inbox import InboxTable


def result(domain: str) -> dict[str, object]:
    return {"domain": domain, "checked_at": "2026-12-01T10:00:00+00:00", "status": "ok",
            "records": {}, "findings": []}


async def test_postgresql_announces_each_commit_to_listeners_and_never_a_rollback(
    pg_location,  # type: ignore[no-untyped-def]
) -> None:
    with Store(pg_location) as store, Store(pg_location) as other:
        backend = StoreBackend(store)
        try:
            assert await backend.wait_for_change(0.2) is False  # listening from here on
            with pytest.raises(RuntimeError), other.transaction():
                checks.insert(other, result("a.example"))
                raise RuntimeError("rolled back: nothing happened")
            assert await backend.wait_for_change(0.5) is False
            waiter = asyncio.create_task(backend.wait_for_change(30))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            checks.save(other, result("b.example"))  # another worker's check result
            assert await waiter is True
            assert time.monotonic() - started < 25  # woken by the commit, not the timeout
            assert await backend.wait_for_change(0.3) is False  # the burst was one wake-up
        finally:
            backend.close()


async def test_sqlite_has_no_feed_the_counter_is_polled(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store, Store(tmp_path / "s.sqlite3") as other:
        backend = StoreBackend(store)
        try:
            before = await backend.data_version()
            checks.save(other, result("a.example"))
            assert await backend.wait_for_change(0.2) is False
            assert await backend.data_version() != before
        finally:
            backend.close()


async def test_a_tui_on_postgresql_shows_another_workers_report_without_waiting_for_a_poll(
    pg_location, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    # The counter is polled once a minute here: only the feed can bring the report in time.
    monkeypatch.setattr(app_module, "STORE_POLL_SECONDS", 60.0)
    with Store(pg_location) as store, Store(pg_location) as other:
        ingest_stream(store, [RawInput("h/1", fresh_report(1), Origin(kind="http", path="h/1"))])
        app = TlsrptApp(StoreBackend(store), Config(), live=True)
        async with app.run_test(size=(160, 40)) as pilot:
            deadline = time.monotonic() + 15
            while app.screen.query_one(InboxTable).row_count != 1:
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
            await pilot.pause(1.5)  # the feed is listening
            ingest_stream(other, [RawInput("h/2", fresh_report(2, org="Microsoft Corporation"),
                                           Origin(kind="http", path="h/2"))])
            deadline = time.monotonic() + 20
            while app.screen.query_one(InboxTable).row_count != 2:
                assert time.monotonic() < deadline, "the new report did not show"
                await pilot.pause(0.05)
