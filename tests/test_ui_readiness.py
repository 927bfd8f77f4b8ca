"""Pilot tests of the readiness screen on the readiness fixture store (tests/readiness_fixture.py).

The app runs headless with the fixture's domains configured and its clock pinned to the
fixture's "today"; assertions read the rendered screen text.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import pytest
import readiness_fixture as fx

from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import CheckSettings, Config
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
from tlsrpt_tui.ui.screens.help import HelpScreen
from tlsrpt_tui.ui.screens.readiness import ReadinessScreen
from tlsrpt_tui.ui.widgets.status_panel import DomainCard

TODAY = date(2026, 12, 1)
DOMAINS = ("testing.example", "enforce.example", "none.example", "fixed.example")


@pytest.fixture
def store(tmp_path):
    s = fx.build(tmp_path / "r.sqlite3", TODAY)
    yield s
    s.close()


def make_app(store) -> TlsrptApp:  # type: ignore[no-untyped-def]
    config = Config(domains=DOMAINS, checks=CheckSettings(interval=3600.0))
    now = datetime.combine(TODAY, time(9, 0), UTC)
    return TlsrptApp(StoreBackend(store), config, clock=lambda: now, live=False)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def shown(app: TlsrptApp) -> str:
    """The screen's text with wrapped lines joined, so a sentence can be looked for whole."""
    return re.sub(r"\s+", " ", screen_text(app))


async def test_r_on_a_domain_card_opens_its_readiness(store) -> None:
    app = make_app(store)
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        app.screen.query(DomainCard).first().focus()  # testing.example, the first card
        await pilot.press("R")  # (Enter on a card opens its findings: test_ui_daily)
        await settle(pilot)
        assert isinstance(app.screen, ReadinessScreen)
        text = shown(app)
        assert "Enforce readiness · testing.example · last 30 days" in text
        assert "testing.example MTA-STS (testing, from the live check) NOT READY" in text
        assert ("switching MTA-STS to enforce would have bounced or deferred 30 of 2,438 "
                "sessions (1.2 %), all certificate-host-mismatch at mx2.testing.example, "
                "reported by Google Inc.: not ready, still failing now") in text
        assert "Microsoft Corporation has not reported for 14 days: too little data" in text
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_readiness_key_acts_on_the_focused_card(store) -> None:
    app = make_app(store)
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        cards = list(app.screen.query(DomainCard))
        assert [c.domain for c in cards] == list(DOMAINS)
        cards[3].focus()  # fixed.example
        await pilot.press("R")
        await settle(pilot)
        text = shown(app)
        assert "fixed.example MTA-STS (testing, from the reports) READY (FIXED)" in text
        assert (f"mx2.fixed.example's certificate is valid now: fixed since "
                f"{fx.day(TODAY, 4).isoformat()}") in text
        # w: the window cycles 30 → 90 → 7 days; 7 days (today and 6 back) hold the reports
        # of days 1-6: 600 ok + 5 failed on days 5 and 6, and 6 days are too few to judge.
        await pilot.press("w")
        await settle(pilot)
        assert "last 90 days" in shown(app)
        await pilot.press("w")
        await settle(pilot)
        text = shown(app)
        assert "Enforce readiness · fixed.example · last 7 days" in text
        assert "10 of 610 sessions" in text
        assert "only 6 days with reports: too little data" in text


async def test_enforce_domain_and_domain_without_reports(store) -> None:
    app = make_app(store)
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        cards = list(app.screen.query(DomainCard))
        cards[1].focus()
        await pilot.press("R")
        await settle(pilot)
        text = shown(app)
        assert "enforce.example MTA-STS (enforce, from the reports) FIXED" in text
        assert "enforce.example DANE CLEAN" in text
        assert "DANE deferred 0 of 5,000 sessions: DANE costs nothing" in text
        await pilot.press("escape")
        cards[2].focus()
        await pilot.press("R")
        await settle(pilot)
        text = shown(app)
        assert "none.example NO REPORTS" in text
        assert "no TLS-RPT record is published, so no sender reports" in text


async def test_help_lists_the_readiness_and_records_keys(store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = shown(app)
        assert "R enforce readiness of the chosen domain" in text
        assert "D the records to publish for the chosen domain" in text


async def test_hostile_text_is_inert_on_the_readiness_and_records_screens(tmp_path) -> None:
    """Organization and MX names from a report, TXT and policy text from a stored check: the
    markup shows literally and no control character reaches the screen."""
    from test_ui_hostile_text import NOW, assert_clean, hostile, make_store

    from tlsrpt_tui.core.findings import DomainStatus, Severity
    from tlsrpt_tui.store import checks as check_store
    from tlsrpt_tui.ui.screens.records import RecordsScreen

    store = make_store(tmp_path / "h.sqlite3")
    records = {"tlsrpt": [f"v=TLSRPTv1; rua=mailto:{hostile('rua')}@evil.example"],
               "sts": [f"v=STSv1; id={hostile('id')}"], "policy": hostile("policy"),
               "mx": ["10 mx.evil.example"]}
    check_store.save(store, DomainStatus("evil.example", NOW.isoformat(), Severity.OK,
                                         records, []).to_json())
    app = TlsrptApp(StoreBackend(store), Config(domains=("evil.example",)), clock=lambda: NOW,
                    demo=True)
    try:
        async with app.run_test(size=(200, 60)) as pilot:
            await settle(pilot)
            await pilot.press("R")
            await settle(pilot)
            assert isinstance(app.screen, ReadinessScreen)
            text = screen_text(app)
            assert_clean(text, "Org")
            assert "at mxhost[bold red]m[/]x" in text  # MX names are compared lower-cased
            await pilot.press("D")
            await settle(pilot)
            assert isinstance(app.screen, RecordsScreen)
            text = screen_text(app)
            assert_clean(text, "policy")
            # published TXT data is shown in zone-file syntax: control bytes as \DDD escapes
            assert 'mailto:rua[bold red]M[/]\\027[31m\\027]0;pwned\\007' in text
            assert '"v=STSv1; id=id[bold red]M[/]\\027[31m' in text
    finally:
        store.close()


async def test_a_recheck_that_finds_the_mx_fixed_updates_the_readiness(store) -> None:
    """r on the readiness screen: the live check (here a checker that stores what a real one
    would: mx2's certificate now fine) finishes, and the screen reads the answer again."""
    from tlsrpt_tui.core.checks.catalogue import finding, worst
    from tlsrpt_tui.core.findings import DomainStatus
    from tlsrpt_tui.store import checks as check_store

    now = datetime.combine(TODAY, time(9, 0), UTC)
    mxs = ("mx1.testing.example", "mx2.testing.example")

    async def checker(domain: str):  # type: ignore[no-untyped-def]
        previous = DomainStatus.from_json(check_store.latest(store, domain) or
                                          {"domain": domain, "checked_at": "", "status": "ok"})
        if domain != "testing.example":
            return previous, previous
        findings = [finding("tls.ok", mx) for mx in mxs]
        records = {"mx": [f"10 {mxs[0]}", f"20 {mxs[1]}"], "probe": {m: {} for m in mxs},
                   "policy": previous.records.get("policy")}
        status = DomainStatus(domain, now.isoformat(), worst(findings), records, findings)
        check_store.save(store, status.to_json())
        return status, previous

    config = Config(domains=DOMAINS, checks=CheckSettings(interval=3600.0))
    app = TlsrptApp(StoreBackend(store), config, clock=lambda: now, checker=checker, live=False)
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        await pilot.press("R")  # no card focused: the first configured domain
        await settle(pilot)
        assert "testing.example MTA-STS (testing, from the live check) NOT READY" in shown(app)
        await pilot.press("r")
        for _ in range(50):
            await settle(pilot)
            if "READY (FIXED)" in shown(app):
                break
        text = shown(app)
        assert "testing.example MTA-STS (testing, from the live check) READY (FIXED)" in text
        assert (f"mx2.testing.example's certificate now covers its name: fixed since "
                f"{TODAY.isoformat()}") in text
