"""The alerts screen and the TUI beside ``watch`` on one store (Pilot, real SQLite store)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from peers.tlsrpt_mail import fresh_report
from textual.widgets import DataTable, Input

from tlsrpt_tui.core.alerts import Alert
from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.service.alerts import Alerter
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import AlertSettings, Config, MailChannel, WebhookChannel
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.store import alerts as db
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.screens.alerts import AlertsScreen
from tlsrpt_tui.ui.screens.report import ReportScreen
from tlsrpt_tui.ui.screens.tables import OverviewScreen
from tlsrpt_tui.ui.widgets.inbox import InboxTable

SETTINGS = AlertSettings(
    mail=(MailChannel(host="smtp.example.com", to=("a@example.com",),
                      name="mail#1 (smtp.example.com)"),),
    webhook=(WebhookChannel(url="https://hooks.example.com/x", name="webhook#1 (hooks)"),),
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.sqlite3")
    yield s
    s.close()


def add_report(store: Store, i: int, org: str = "Google Inc.") -> None:
    raw = RawInput(f"https/{i}", fresh_report(i, org=org), Origin(kind="http", path=f"h/{i}"))
    assert ingest_stream(store, [raw]).new == 1


async def wait_for(pilot, cond, limit: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)


async def test_alerts_screen_newest_first_with_delivery_and_enter_opens_the_subject(
    store: Store,
) -> None:
    add_report(store, 1, org="Evil\x1b[31m Org")
    alerter = Alerter(store, SETTINGS)
    [failures] = alerter.scan_reports()
    with store.transaction():
        db.insert(store, Alert("report.gap", "gap-1", "warning", "example.com",
                               "no report from Microsoft for 80 hours",
                               raised_at=datetime.now(UTC).isoformat()), ["webhook#1 (hooks)"])
        db.mark_delivered(store, failures.pk, "mail#1 (smtp.example.com)")  # type: ignore[arg-type]
        db.mark_failed(store, failures.pk, "webhook#1 (hooks)", "HTTP 503")  # type: ignore[arg-type]
    app = TlsrptApp(StoreBackend(store), Config(alerts=SETTINGS), live=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen)
                       and app.screen.query_one(DataTable).row_count == 2)
        text = screen_text(app)
        assert text.index("report.gap") < text.index("report.failures")  # newest first
        assert "mail#1 ✓ webhook#1 ✗1" in text
        assert "webhook#1 …" in text
        # The highlighted alert in full under the table: subject, each channel, its text.
        assert "[tlsrpt-tui] example.com: no report from Microsoft for 80 hours" in text
        # Enter on the failures alert: its report.
        await pilot.press("j")
        await wait_for(pilot, lambda: "waiting, 1 failed attempt(s): HTTP 503"
                       in screen_text(app))
        assert "Failures by result type:" in screen_text(app)
        assert "reported by Evil [31m Org" in screen_text(app)  # the ESC itself is gone
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        # Enter on the gap alert: the Overview filtered to its domain.
        await pilot.press("k")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await wait_for(pilot, lambda: app.screen.query_one("#flt-domain", Input).value
                       == "example.com")


async def test_the_tui_shows_what_another_process_stores_and_a_failing_channel(
    store: Store, tmp_path: Path
) -> None:
    add_report(store, 1)
    app = TlsrptApp(StoreBackend(store), Config(alerts=SETTINGS), live=True)
    other = Store(tmp_path / "s.sqlite3")  # the watch service's own connection
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.screen.query_one(InboxTable).row_count == 1)
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
            # "watch" stores a report, raises its alert, and its mail channel fails.
            add_report(other, 2, org="Microsoft Corporation")
            Alerter(other, SETTINGS).scan_reports()
            with other.transaction():
                db.set_state(other, "channel:mail#1 (smtp.example.com)",
                             {"since": "2026-12-01T10:00:00+00:00", "error": "connection "
                              "refused"})
            await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 2)
            await wait_for(pilot, lambda: "reported by Microsoft" in screen_text(app))
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen.query_one(InboxTable).row_count == 2)
            await wait_for(pilot, lambda: "alerts: mail#1 (smtp.example.com) failing since"
                           in screen_text(app))
            assert "connection refused" in screen_text(app)
    finally:
        other.close()
