"""The bundled demo: its own fixtures, ingested through the real ingest service."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tlsrpt_tui.demo.generate import DEMO_DAYS, DEMO_DOMAINS, FAILURE_STREAK, MISMATCH_DAYS
from tlsrpt_tui.demo.store import build_demo_store, demo_config
from tlsrpt_tui.service import queries
from tlsrpt_tui.store import checks as check_store

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
END = date(2026, 5, 31)


def test_demo_store_tells_its_story(tmp_path: Path) -> None:
    store, summary = build_demo_store(tmp_path / "demo.sqlite3", end=END, now=NOW)
    try:
        assert summary.rejected == 1 and summary.duplicate == 0
        rows = list(queries.overview_rows(store))
        assert len(rows) == summary.new
        assert {r.organization for r in rows} == {
            "Google Inc.", "Microsoft Corporation", "mx.relay.example"
        }
        dates = sorted({r.date for r in rows})
        assert len(dates) == DEMO_DAYS and dates[-1] == END.isoformat()
        # healthy days and a failure streak: example.net fails exactly on the streak days
        streak = {(END - timedelta(days=d)).isoformat() for d in FAILURE_STREAK}
        net = list(queries.failure_rows(store, queries.TableFilter(domain="example.net")))
        assert {r.date for r in net} == streak
        assert {r.result_type for r in net} == {"certificate-expired"}
        com = list(queries.failure_rows(store, queries.TableFilter(domain="example.com")))
        # the forged "Google" report (its DKIM fails) claims 9,000 from one address
        forged = [r for r in com if r.sending_mta_ip == "203.0.113.66"]
        assert [(r.result_type, r.failed) for r in forged] == [("certificate-expired", 9000)]
        com = [r for r in com if r.sending_mta_ip != "203.0.113.66"]
        assert {r.result_type for r in com} == {"validation-failure"} and len(com) == 2
        # example.org (testing mode) failed on MISMATCH_DAYS only: its readiness story
        org_fail = list(queries.failure_rows(store, queries.TableFilter(domain="example.org")))
        assert {r.date for r in org_fail} == {(END - timedelta(days=d)).isoformat()
                                              for d in MISMATCH_DAYS}
        assert {r.result_type for r in org_fail} == {"certificate-host-mismatch"}
        # sender styles survive the parser: Microsoft's nested TLSA array, FILETIME ids,
        # Google's Subject id that differs from the JSON one, a null contact
        org = list(queries.policy_rows(store, queries.TableFilter(domain="example.org")))
        assert "2 TLSA records published" in {r.policy_details for r in org}
        first = queries.inbox_page(store, limit=400)
        by_org = {}
        for row in first:
            by_org.setdefault(row.organization, row.pk)
        ms, _ = queries.report_detail(store, by_org["Microsoft Corporation"])
        assert ms.generated_at is not None and ms.generated_at.date() > ms.start.date()
        google, _ = queries.report_detail(store, by_org["Google Inc."])
        assert google.subject_report_id and google.subject_report_id != google.report_id
        relay, _ = queries.report_detail(store, by_org["mx.relay.example"])
        assert relay.contact is None
        # the unreadable message is kept with its reason
        (bad,) = queries.unreadable_inputs(store)
        assert "gzip" in bad.error
        # stored checks, two per domain for the panel (no live lookups in the demo), and
        # example.org's older history: failing, then fixed on the last mismatch day
        for domain in DEMO_DOMAINS:
            assert len(check_store.history(store, domain)) == (5 if domain == "example.org"
                                                               else 2)
        latest = check_store.latest(store, "example.net")
        assert latest is not None and latest["status"] == "error"
        assert "tls.expired" in {f["code"] for f in latest["findings"]}
        assert demo_config().domains == DEMO_DOMAINS
    finally:
        store.close()


async def test_demo_readiness_and_records_tell_example_orgs_story(tmp_path: Path) -> None:
    """example.org is in testing mode; its readiness screen says the reported mismatch is
    fixed, and its records screen says what switching to enforce changes."""
    import re

    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.ui.app import TlsrptApp
    from tlsrpt_tui.ui.screen_text import screen_text
    from tlsrpt_tui.ui.screens.readiness import ReadinessScreen
    from tlsrpt_tui.ui.screens.records import RecordsScreen
    from tlsrpt_tui.ui.widgets.status_panel import DomainCard

    store, _ = build_demo_store(tmp_path / "demo.sqlite3", end=END, now=NOW)
    app = TlsrptApp(StoreBackend(store), demo_config(), demo=True, clock=lambda: NOW)

    async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()

    def shown() -> str:
        return re.sub(r"\s+", " ", screen_text(app))

    fixed = (END - timedelta(days=min(MISMATCH_DAYS))).isoformat()
    try:
        async with app.run_test(size=(120, 50)) as pilot:
            await settle(pilot)
            [org] = [c for c in app.screen.query(DomainCard) if c.domain == "example.org"]
            org.focus()
            await pilot.press("R")  # (Enter on a card: its findings)
            await settle(pilot)
            assert isinstance(app.screen, ReadinessScreen)
            text = shown()
            assert "example.org MTA-STS (testing, from the live check) READY (FIXED)" in text
            assert "all certificate-host-mismatch at mail.example.org, reported by Google Inc. " \
                   f"and Microsoft Corporation: ready, fixed since {fixed}" in text
            assert "example.org DANE CLEAN" in text
            await pilot.press("D")
            await settle(pilot)
            assert isinstance(app.screen, RecordsScreen)
            text = shown()
            assert "record nothing to change Esc Back" in text  # the last line, then the footer
            assert ": change " not in text and ": add " not in text
            await pilot.press("m")
            await settle(pilot)
            text = shown()
            assert "differs: mode testing → enforce" in text
            assert "differs: id 20260101T000000 → 20260601080000" in text
            await pilot.press("c")  # the zone lines and the policy file, ready to paste
            await pilot.pause()
            assert '_mta-sts.example.org. 3600 IN TXT "v=STSv1; id=20260601080000"' in (
                app.clipboard)
            assert "mode: enforce\nmx: mail.example.org\nmax_age: 604800\n" in app.clipboard
    finally:
        store.close()
