"""Snapshots of the main screens at 80x24, 120x40 and 200x60 (and NO_COLOR), on the demo data.

Clock and config are pinned (the demo store is built for a fixed date and the app reads time
only through its injected clock), so a snapshot changes only when the UI does. Update with
``pytest tests/test_snapshots.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from tui_helpers import press, settle

from tlsrpt_tui.demo.store import build_demo_store, demo_config
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui import styles
from tlsrpt_tui.ui.app import TlsrptApp

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
END = date(2026, 5, 31)
SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def demo_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    store, _ = build_demo_store(tmp_path / "demo.sqlite3", end=END, now=NOW)
    yield TlsrptApp(StoreBackend(store), demo_config(Path("config.toml")), demo=True,
                    clock=lambda: NOW)
    store.close()


def press_and_settle(*keys: str):  # type: ignore[no-untyped-def]
    """run_before for snap_compare: let the first loads arrive, then press each key and wait
    for what it reads (the screens read through the service, off the event loop)."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await press(pilot, *keys)

    return run_before


@pytest.mark.parametrize("size", [*SIZES, (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, demo_app, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(demo_app, terminal_size=size, run_before=press_and_settle())


def test_dashboard_no_color(snap_compare, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """NO_COLOR: failures bold and reversed, the rest plain (Textual reads it at start)."""
    monkeypatch.setenv("NO_COLOR", "1")
    store, _ = build_demo_store(tmp_path / "demo.sqlite3", end=END, now=NOW)
    app = TlsrptApp(StoreBackend(store), demo_config(Path("config.toml")), demo=True,
                    clock=lambda: NOW)
    try:
        assert snap_compare(app, terminal_size=(120, 40), run_before=press_and_settle())
    finally:
        store.close()
        styles.use(False)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_report_and_failures(snap_compare, demo_app, size) -> None:  # type: ignore[no-untyped-def]
    # the 2nd report row is a failed Google report for example.net (the demo's failure streak)
    assert snap_compare(demo_app, terminal_size=size,
                        run_before=press_and_settle("down", "down", "down", "down", "enter",
                                                    "enter"))


def test_report_notes(snap_compare, demo_app) -> None:  # type: ignore[no-untyped-def]
    # the 5th report row is from the self-hosted relay, whose mail is not DKIM-signed: the
    # report screen opens with the notes box
    assert snap_compare(demo_app, terminal_size=(80, 24),
                        run_before=press_and_settle("down", "down", "down", "down", "down",
                                                    "enter"))


@pytest.mark.parametrize("size", [*SIZES, (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_overview(snap_compare, demo_app, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(demo_app, terminal_size=size, run_before=press_and_settle("o"))


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_failures_table(snap_compare, demo_app, size) -> None:  # type: ignore[no-untyped-def]
    """F: every failure detail across reports, newest first, the failed count beside the
    date and domain, the Total docked."""
    assert snap_compare(demo_app, terminal_size=size, run_before=press_and_settle("F"))


def test_policy_summary(snap_compare, demo_app) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(demo_app, terminal_size=(120, 40), run_before=press_and_settle("p"))


def test_help(snap_compare, demo_app) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(demo_app, terminal_size=(80, 24),
                        run_before=press_and_settle("question_mark"))


def focus_card_and_press(domain: str, *keys: str):  # type: ignore[no-untyped-def]
    """run_before: choose a domain's card in the status panel, press keys, wait for workers."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        from tlsrpt_tui.ui.widgets.status_panel import DomainCard

        await pilot.pause()
        [card] = [c for c in pilot.app.screen.query(DomainCard) if c.domain == domain]
        card.focus()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_readiness(snap_compare, demo_app, size) -> None:  # type: ignore[no-untyped-def]
    # example.org: testing mode, a reported mismatch fixed since, DANE clean
    assert snap_compare(demo_app, terminal_size=size,
                        run_before=focus_card_and_press("example.org", "R"))


def test_records(snap_compare, demo_app) -> None:  # type: ignore[no-untyped-def]
    # example.net: no TLSA published for either MX (built from the stored check in the demo)
    assert snap_compare(demo_app, terminal_size=(120, 40),
                        run_before=focus_card_and_press("example.net", "D"))


def test_first_run(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "empty.sqlite3")
    app = TlsrptApp(StoreBackend(store), Config(path=Path("~/.config/tlsrpt-tui/config.toml")),
                    clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=press_and_settle())
    store.close()


def test_alerts(snap_compare, demo_app) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(demo_app, terminal_size=(120, 40), run_before=press_and_settle("a"))
