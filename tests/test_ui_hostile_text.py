"""Hostile report text on every TUI screen that shows it, asserted on the rendered screen.

One report whose every free-text field carries Rich markup, CSI/OSC escapes, BEL and C1
controls is ingested through the real pipeline; the dashboard inbox, the report screen, the
policy/failure screen, the Overview and the Policy Summary are opened with the Pilot, and a
check result naming a hostile MX raises a notification. On each, the rendered screen must show
the markup literally and hold no control character at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from report_factory import failure, report, sts_policy, to_json
from tui_helpers import settle

from tlsrpt_tui.core.checks.catalogue import finding, worst
from tlsrpt_tui.core.findings import DomainStatus
from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.screens.policy import PolicyScreen
from tlsrpt_tui.ui.screens.report import ReportScreen
from tlsrpt_tui.ui.screens.tables import OverviewScreen, PolicySummaryScreen

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
ESC = "\x1b[31m\x1b]0;pwned\x07\x9b2J\x07"
MARKUP = "[bold red]M[/]"
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\x9d")


def hostile(field: str) -> str:
    return f"{field}{MARKUP}{ESC}X"


def shown(field: str) -> str:
    """What the screen must show for ``hostile(field)``: markup literal, escapes gone."""
    return f"{field}{MARKUP}X"


def assert_clean(text: str, *fields: str) -> None:
    for ch in FORBIDDEN:
        assert ch not in text, f"{ch!r} reached the screen"
    for field in fields:
        assert shown(field) in text, f"{shown(field)!r} is not on the screen:\n{text}"


def make_store(path: Path) -> Store:
    policy = sts_policy(
        "evil.example", 5, 3, mx=(hostile("mxpat"),),
        details=[failure("certificate-expired", 3, mx=hostile("mxhost"), code=hostile("why"))],
    )  # fmt: skip
    rep = report(hostile("Org"), hostile("rid"), "2026-05-30", [policy], contact=hostile("who"))
    store = Store(path)
    raw = RawInput("evil.json", to_json(rep), Origin(kind="file", path="evil.json"))
    assert ingest_stream(store, [raw]).new == 1
    return store


async def test_every_screen_shows_hostile_text_inert(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite3")
    evil_mx = hostile("mxcheck")
    bad = [finding("tls.expired", evil_mx, "expired")]
    good = [finding("tls.ok", evil_mx)]

    async def checker(domain: str):  # type: ignore[no-untyped-def]
        previous = DomainStatus(domain, NOW.isoformat(), worst(good), {}, good)
        return DomainStatus(domain, NOW.isoformat(), worst(bad), {}, bad), previous

    app = TlsrptApp(StoreBackend(store), Config(domains=("evil.example",)), clock=lambda: NOW,
                    checker=checker)
    try:
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            for _ in range(40):
                await pilot.pause(0.05)
                if not app._checking:
                    break
            await pilot.pause()
            # Dashboard: the inbox row, the status card and the notification about the MX.
            assert app._notifications, "no notification was raised"
            text = screen_text(app)
            assert_clean(text, "Org", "mxcheck")
            lines = text.splitlines()
            at = next(i for i, line in enumerate(lines) if "changed since the last" in line)
            toast = " ".join(line.split("▌")[-1].strip() for line in lines[at : at + 2])
            assert "STARTTLS mxcheck[bold red]M[/]X" in toast, toast
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ReportScreen)
            assert_clean(screen_text(app), "Org", "rid", "who")
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, PolicyScreen)
            assert_clean(screen_text(app), "mxpat", "mxhost", "why")
            await pilot.press("escape", "escape")
            await pilot.pause()
            await pilot.press("o")
            await pilot.pause()
            await settle(pilot)  # not every worker: the live app's store follower never ends
            await pilot.pause()
            assert isinstance(app.screen, OverviewScreen)
            assert_clean(screen_text(app), "Org")
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("p")
            await pilot.pause()
            await settle(pilot)  # not every worker: the live app's store follower never ends
            await pilot.pause()
            assert isinstance(app.screen, PolicySummaryScreen)
            text = screen_text(app)
            assert_clean(text, "Org")
            assert "mx=mxpat[bo" in text  # the details column, cut to its width
    finally:
        store.close()
