"""Pilot tests of the two big tables and the report screen's notes.

- Overview / Policy Summary over more rows than the table holds at once: every row is reachable
  by keyboard (PageDown, End, Home), the cells at each position are the CLI's rows in the CLI's
  order, the table never holds more than its window, and Enter opens the row's report (a Policy
  Summary row: that policy's failure screen over the report).
- The row keys that make this possible are not columns: CSV/JSON/table output stays the same.
- The report screen shows the parser's notes (an unsigned mail, a TLS-Report-Domain naming no
  policy domain) as literal text, markup and escapes included.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from tui_helpers import settle

from tlsrpt_tui.core import tables
from tlsrpt_tui.core.model import (
    FailureDetail,
    InputStatus,
    Origin,
    Policy,
    PolicyType,
    RawInput,
    Report,
)
from tlsrpt_tui.demo.generate import SENDERS, report_json, report_mail
from tlsrpt_tui.service import queries
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.screens.policy import PolicyScreen
from tlsrpt_tui.ui.screens.report import ReportScreen
from tlsrpt_tui.ui.screens.tables import OverviewScreen, PolicySummaryScreen, screen_values
from tlsrpt_tui.ui.widgets.paged import WINDOW, PagedTable

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
#: what the TUI's tables show by default: newest first, the domain filter matching a part
TUI = queries.TableFilter(domain_substring=True, newest_first=True)
N_REPORTS = 700  # several windows (100 rows, or 5 screen heights)
DOMAINS = ("a.example", "b.example", "c.example")


@pytest.fixture(scope="module")
def big_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """N_REPORTS reports over 90 days; every third has a second (TLSA) policy, some fail."""
    path = tmp_path_factory.mktemp("big") / "big.sqlite3"
    rnd = random.Random(5)
    store = Store(path)
    with store.transaction():
        pk, _ = db.store_raw_input(
            store, source="fixture", data=b"fixture", origin=Origin("file", "fixture"),
            status=InputStatus.REPORT, error=None, parser_version="test",
        )
        for i in range(N_REPORTS):
            d = DOMAINS[i % 3]
            start = NOW - timedelta(days=rnd.randrange(90), hours=8)
            fails = (i * 7) % 5
            details = (FailureDetail("certificate-expired", fails, "192.0.2.1", f"mx.{d}"),)
            policies = [Policy(
                PolicyType.STS, "sts", d, ("version: STSv1", "mode: enforce", f"mx: mx.{d}"),
                (f"mx.{d}",), 100 + i, fails, details if fails else (),
            )]
            if i % 3 == 0:
                policies.append(Policy(PolicyType.TLSA, "tlsa", d, ("3 1 1 AA",), (), 10, 0))
            db.insert_report(store, Report(f"Org {i % 4}", "c@x.example", f"id{i}", start,
                                           start + timedelta(days=1), tuple(policies)), pk)
    store.close()
    return path


@pytest.fixture
def big_store(big_template: Path, tmp_path: Path) -> Store:
    copy = tmp_path / "big.sqlite3"
    copy.write_bytes(big_template.read_bytes())
    store = Store(copy)
    yield store
    store.close()


def make_app(store: Store) -> TlsrptApp:
    return TlsrptApp(StoreBackend(store), Config(domains=DOMAINS), clock=lambda: NOW, live=False)


def cells(table: PagedTable) -> list[str]:
    return [c.plain for c in table.get_row_at(table.cursor_row)]


def expected_cells(row: tables.Row) -> list[str]:
    """The row's cells in the screen's column order (the counts right after the date)."""
    return [f"{v:,}" if isinstance(v, int) else str(v) for v in screen_values(row)]


def test_row_keys_are_not_columns(big_store: Store) -> None:
    """report_pk/policy_index ride along but never reach CSV, JSON or the text table."""
    rows = list(queries.overview_rows(big_store))
    assert len(rows) == N_REPORTS
    first = rows[0]
    assert first.report_pk is not None
    assert len(tables.row_values(first)) == len(tables.OverviewRow.COLUMNS)
    assert list(tables.row_dict(first)) == list(tables.OverviewRow.COLUMNS)
    csv_text = "".join(tables.render(rows[:3], tables.OverviewRow, "csv"))
    assert csv_text.splitlines()[0].split(",") == list(tables.OverviewRow.COLUMNS)
    assert all(len(line) == 7 for line in csv.reader(io.StringIO(csv_text)))
    report, _ = queries.report_detail(big_store, first.report_pk)
    assert report.report_id == first.report_id
    policies = list(queries.policy_rows(big_store))
    for row in policies[:20]:
        report, _ = queries.report_detail(big_store, row.report_pk)
        assert report.policies[row.policy_index].policy_domain == row.policy_domain
        assert tables.policy_row(report, report.policies[row.policy_index]) == row
    assert list(tables.row_dict(policies[0])) == list(tables.PolicyRow.COLUMNS)
    # the keys and the by-key fetch agree with the full query, order included
    keys = [k for k, _ok, _failed in queries.overview_keys(big_store)]
    assert keys == [r.report_pk for r in rows]
    assert queries.overview_rows_by_key(big_store, keys[700:760]) == rows[700:760]
    pkeys = [k for k, _ok, _failed in queries.policy_keys(big_store)]
    assert queries.policy_rows_by_key(big_store, pkeys[-50:]) == policies[-50:]


async def test_overview_every_row_reachable_by_keyboard(big_store: Store) -> None:
    rows = list(queries.overview_rows(big_store, TUI))
    totals = tables.Totals()
    for r in rows:
        totals.add(r)
    app = make_app(big_store)
    async with app.run_test(size=(100, 60)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        table = app.screen.query_one("#table", PagedTable)
        assert table.total_rows == N_REPORTS + 1
        assert table.row_count <= table.window + 1 < N_REPORTS  # a window, not every row
        assert cells(table) == expected_cells(rows[0])
        # PageDown walks the whole table, past window ends, onto the Total row
        seen = [table.position]
        while table.position < table.total_rows - 1:
            await pilot.press("pagedown")
            assert table.position > seen[-1], "PageDown did not move"
            seen.append(table.position)
            if table.position < N_REPORTS:
                assert cells(table) == expected_cells(rows[table.position])
            assert table.row_count <= table.window + 1
        assert table.builds > 2  # the window moved
        total = cells(table)
        assert total[0] == "Total"
        labels = [c.label.plain for c in table.columns.values()]  # Date, Domain, the counts
        assert total[labels.index("Successful")] == f"{totals.successful:,}"
        assert total[labels.index("Failed")] == f"{totals.failed:,}"
        # Home, End, arrows across a window boundary
        await pilot.press("home")
        assert table.position == 0 and cells(table) == expected_cells(rows[0])
        await pilot.press("end", "up")
        assert table.position == N_REPORTS - 1
        assert cells(table) == expected_cells(rows[-1])
        # Up from the window's first row moves the window
        table.show_row(table.first_row)
        await settle(pilot)
        top = table.position
        assert top > 0 and table.cursor_row == 0
        await pilot.press("up", "up")
        pos = top - 2
        assert table.position == pos and table.first_row < pos
        assert cells(table) == expected_cells(rows[pos])
        await settle(pilot)
        assert f"row {pos + 1:,}" in screen_text(app)
        # Enter opens that row's report; Escape comes back to the same row
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert app.screen.report.report_id == rows[pos].report_id
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen) and table.position == pos
        # Enter on the Total row opens nothing
        await pilot.press("end", "enter")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)


async def test_policy_summary_row_opens_its_policy(big_store: Store) -> None:
    rows = list(queries.policy_rows(big_store, TUI))
    app = make_app(big_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PolicySummaryScreen)
        table = app.screen.query_one("#table", PagedTable)
        assert table.total_rows == len(rows) + 1
        # a TLSA policy (the 2nd of its report) deep in the table, reached with End + up
        target = max(i for i, r in enumerate(rows) if r.policy_type == "TLSA"
                     and i < len(rows) - table.window)
        await pilot.press("end")
        while table.position > target:
            await pilot.press("pageup" if table.position - target > 40 else "up")
        assert table.position == target
        assert cells(table) == expected_cells(rows[target])
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PolicyScreen)
        assert app.screen.index == rows[target].policy_index == 1
        assert app.screen.policy.policy_type == PolicyType.TLSA
        assert app.screen.policy.policy_domain == rows[target].policy_domain
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert app.screen.query_one("#policies").cursor_row == 1  # on the policy we came from
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, PolicySummaryScreen) and table.position == target


async def test_filter_narrows_to_one_window_with_total(big_store: Store) -> None:
    app = make_app(big_store)
    flt = replace(TUI, domain="b.example", since=date(2026, 5, 20))
    expected = list(queries.overview_rows(big_store, flt))
    assert 0 < len(expected) < WINDOW
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("d", *"B.example.", "enter", "f", *"2026-05-20", "enter")
        await settle(pilot)
        table = app.screen.query_one("#table", PagedTable)
        assert table.total_rows == table.row_count == len(expected) + 1
        assert [table.get_row_at(i)[0].plain for i in range(len(expected))] == [
            r.date for r in expected]
        assert table.get_row_at(len(expected))[0].plain == "Total"


def hostile_unsigned_mail() -> bytes:
    """The demo's self-hosted sender (it signs nothing) with a TLS-Report-Domain header that
    names no policy domain and carries markup and a terminal escape."""
    sender = SENDERS[2]
    report = report_json(sender, "example.com", date(2026, 5, 30), 0, random.Random(1))
    data = report_mail(sender, "example.com", report, sent=NOW)
    assert b"DKIM-Signature" not in data
    header = b"TLS-Report-Domain: example.com"
    assert data.count(header) == 1
    return data.replace(header, b"TLS-Report-Domain: [bold red]x[/]\x1b]0;pwn\x07.example")


async def test_report_screen_shows_notes_as_literal_text(tmp_path: Path) -> None:
    store = Store(tmp_path / "notes.sqlite3")
    summary = ingest_stream(store, [RawInput("mail/1", hostile_unsigned_mail(),
                                             Origin(kind="file", path="mail/1.eml"))])
    assert summary.new == 1
    (report_pk,) = [r.pk for r in queries.inbox_page(store)]
    report, _ = queries.report_detail(store, report_pk)
    assert any("not DKIM-signed" in n for n in report.notes)
    app = TlsrptApp(StoreBackend(store), Config(domains=("example.com",)), clock=lambda: NOW,
                    live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        text = screen_text(app)
        # a bordered box at the top, titled with the count, one bullet per note
        assert f"{len(report.notes)} notes on this report" in text
        lines = text.splitlines()
        box = next(i for i, line in enumerate(lines) if "notes on this report" in line)
        org = next(i for i, line in enumerate(lines) if "Organization" in line)
        assert box < org
        assert "• mail is not DKIM-signed: treat the report as unverified" in text
        # the header value is shown as typed: markup literal, the escape sequence removed
        assert "TLS-Report-Domain [bold red]x[/].example names none of" in text
        assert "\x1b" not in text and "pwn" not in text
    store.close()


async def test_report_without_notes_has_no_notes_box(big_store: Store) -> None:
    app = make_app(big_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert app.screen.report.notes == ()
        assert "notes on this report" not in screen_text(app)
