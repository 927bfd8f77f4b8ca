"""The bundled demo: its own fixtures, ingested through the real ingest service."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tlsrpt_tui.demo.generate import DEMO_DAYS, DEMO_DOMAINS, FAILURE_STREAK
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
        assert {r.result_type for r in com} == {"validation-failure"} and len(com) == 2
        assert not list(queries.failure_rows(store, queries.TableFilter(domain="example.org")))
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
        # stored checks, two per domain, for the panel (no live lookups in the demo)
        for domain in DEMO_DOMAINS:
            assert len(check_store.history(store, domain)) == 2
        latest = check_store.latest(store, "example.net")
        assert latest is not None and latest["status"] == "error"
        assert "tls.expired" in {f["code"] for f in latest["findings"]}
        assert demo_config().domains == DEMO_DOMAINS
    finally:
        store.close()
