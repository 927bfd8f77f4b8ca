"""Pilot tests of the TUI flows on the demo data: drill-down and back, tables, filter, live updates.

The app runs headless on a store filled through the real ingest service; assertions read the
widgets and the rendered screen text, never private state that could not fail.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from rich.style import Style
from textual.widgets import DataTable, Input, Static
from tui_helpers import settle, text_showing

from tlsrpt_tui.core import tables
from tlsrpt_tui.core.checks.catalogue import RESULT_TYPES, finding, worst
from tlsrpt_tui.demo.generate import SENDERS, report_json, report_mail
from tlsrpt_tui.demo.store import build_demo_store, demo_config, demo_statuses
from tlsrpt_tui.service import queries
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.checks import DomainStatus
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui import styles
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.messages import DomainChecked, ReportsIngested
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
from tlsrpt_tui.ui.screens.first_run import FirstRunScreen
from tlsrpt_tui.ui.screens.help import HelpScreen
from tlsrpt_tui.ui.screens.policy import PolicyScreen
from tlsrpt_tui.ui.screens.raw import RawScreen
from tlsrpt_tui.ui.screens.report import ReportScreen
from tlsrpt_tui.ui.screens.tables import OverviewScreen, PolicySummaryScreen
from tlsrpt_tui.ui.widgets.inbox import InboxTable
from tlsrpt_tui.ui.widgets.paged import PagedTable
from tlsrpt_tui.ui.widgets.status_panel import CHANGED_MARK, StatusPanel

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
END = date(2026, 5, 31)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store, built once per module through the real ingest; tests get a copy."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    store, summary = build_demo_store(path, end=END, now=NOW)
    assert summary.new == 421 and summary.rejected == 1
    store.close()  # checkpoints the WAL into the file
    return path


@pytest.fixture
def demo_store(demo_template: Path, tmp_path: Path) -> Store:
    copy = tmp_path / "demo.sqlite3"
    shutil.copyfile(demo_template, copy)
    store = Store(copy)
    yield store
    store.close()


def make_app(store: Store, **kwargs) -> TlsrptApp:  # type: ignore[no-untyped-def]
    kwargs.setdefault("demo", True)
    return TlsrptApp(StoreBackend(store), kwargs.pop("config", demo_config()), clock=lambda: NOW,
                     **kwargs)


def inbox(app: TlsrptApp) -> InboxTable:
    return app.screen.query_one(InboxTable)


def plain_row(table: DataTable, index: int) -> list[str]:
    return [getattr(c, "plain", str(c)) for c in table.get_row_at(index)]


def ingest_mail(store: Store, organization: str, day: date, uid: int, failures: int = 0) -> None:
    sender = SENDERS[2]
    import random

    report = report_json(sender, "example.com", day, 100, random.Random(uid))
    report["organization-name"] = organization
    if failures:
        report["policies"][0]["summary"]["total-failure-session-count"] = failures
    data = report_mail(sender, "example.com", report, sent=NOW)
    from tlsrpt_tui.core.model import Origin, RawInput

    raw = RawInput(f"test/{uid}", data, Origin(kind="file", path=f"test/{uid}.eml"))
    summary = ingest_stream(store, [raw])
    assert summary.new == 1, summary


async def test_dashboard_inbox_newest_first_failed_and_unreadable(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        table = inbox(app)
        keys = [r.key.value for r in table.ordered_rows]
        # the unreadable message is listed first, with its reason
        assert keys[0].startswith("u")
        first = plain_row(table, 0)
        assert first[1] == "unreadable" and "gzip" in first[5]
        # reports follow, newest first
        dates = [plain_row(table, i)[1] for i in range(1, table.row_count)]
        assert dates == sorted(dates, reverse=True)
        assert dates[0] == END.isoformat()
        # paged: never the whole store; moving to the end of a page loads the next one
        assert table.page_size == 40  # the terminal's height: no more rows than it can show
        assert table.row_count == table.page_size + 1 < queries.inbox_count(demo_store)
        table.move_cursor(row=table.row_count - 1)
        await settle(pilot)
        assert table.row_count == 2 * table.page_size + 1
        # failed rows stand out (bold date cell, the failure style, after the signature mark),
        # healthy rows do not; a forged report is struck through, its failures not marked
        forged = 0
        for i in range(1, 15):
            row = table.get_row_at(i)
            failed = int(row[3].plain.replace(",", "") or 0)
            if row[0].plain == "✗":
                forged += 1
                assert str(row[1].style) == styles.FORGED == str(row[3].style)
                continue
            assert row[0].plain in ("✓", "?")
            assert (str(row[1].style) == styles.FAILED) == bool(failed)
            assert bool(Style.parse(str(row[1].style)).bold) == bool(failed)
        assert forged == 1  # the demo's forged "Google" report
        text = await text_showing(pilot, "example.net", "STARTTLS mx2.example.net")
        assert "example.net" in text and "STARTTLS mx2.example.net" in text, text


async def test_drill_down_report_policy_failure_and_back(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = inbox(app)
        # first failed report row
        index = next(i for i in range(1, table.row_count)
                     if plain_row(table, i)[3] not in ("", "0") and plain_row(table, i)[0] != "✗")
        table.move_cursor(row=index)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        report = app.screen.report
        text = screen_text(app)
        assert report.report_id in text
        assert "Subject Report-ID" in text and (report.subject_report_id or "") in text
        assert "Date range" in text
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PolicyScreen)
        detail = app.screen.policy.failure_details[0]
        text = screen_text(app)
        meaning, _fix = RESULT_TYPES[detail.result_type]
        assert detail.result_type in text and meaning in text
        # the demo's stored check explains the expired certificate on mx2.example.net
        assert "tls.expired" in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, RawScreen)
        body = json.loads(app.screen.body)
        assert body["report-id"] == report.report_id
        assert body["organization-name"] == report.organization
        await pilot.press("escape", "m")
        await settle(pilot)
        assert isinstance(app.screen, RawScreen)
        assert "TLS-Report-Domain:" in app.screen.body  # the stored mail, headers and all
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert inbox(app).cursor_row == index


async def test_charts_leave_the_forged_report_out_and_say_so(demo_store: Store) -> None:
    """The demo's forged "Google" report claims thousands of failures: the 30-day charts and
    their counts are the real reports' only, and the line under them says one was left out."""
    today = NOW.date()
    first = today - timedelta(days=29)
    assert queries.forged_report_count(demo_store, first, today) == 1
    real = {d: queries.daily_totals(demo_store, d, 30, today, include_forged=False)
            for d in ("example.com", "example.net", "example.org")}
    every = {d: queries.daily_totals(demo_store, d, 30, today) for d in real}
    assert real != every  # the forged report is in one of the charts' windows
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        shown = "\n".join(str(w.render()) for w in app.screen.query(".totals-counts"))
        for domain, days in real.items():
            failed = sum(d.failed for d in days)
            assert f"failed {failed:,}" in shown, (domain, shown)
        axis = "\n".join(str(w.render()) for w in app.screen.query(".totals-axis"))
        assert "✗ 1 forged not counted" in axis


async def test_overview_and_policy_totals_and_filters(demo_store: Store) -> None:
    app = make_app(demo_store)
    expected = tables.Totals()
    forged = queries.forged_reports(demo_store)
    for row in queries.overview_rows(demo_store):
        expected.add(row, forged)
    assert expected.forged == 1  # the demo's forged "Google" report: listed, not counted
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        table = app.screen.query_one("#table", PagedTable)
        assert table.total_rows == 421 + 1
        docked = str(app.screen.query_one("#table-total", Static).render())
        assert f"successful {expected.successful:,}" in docked
        assert "✗ 1 forged not counted" in docked
        await pilot.press("end")  # the Total row closes the table
        await settle(pilot)
        total = plain_row(table, table.cursor_row)
        assert total[0] == "Total"
        labels = [c.label.plain for c in table.columns.values()]  # Date, Domain, the counts
        assert total[labels.index("Successful")] == f"{expected.successful:,}"
        assert total[labels.index("Failed")] == f"{expected.failed:,}"
        # filter by domain and dates
        await pilot.press("d")
        await pilot.press(*"example.org")
        await pilot.press("enter")
        await settle(pilot)
        flt = queries.TableFilter(domain="example.org")
        rows = list(queries.overview_rows(demo_store, flt))
        assert table.total_rows == table.row_count == len(rows) + 1 and len(rows) == 120
        app.screen.query_one("#flt-since", Input).value = "2026-05-25"
        app.screen.query_one("#flt-until", Input).value = "2026-05-31"
        assert app.screen.apply_filters()
        await settle(pilot)
        assert table.row_count == 7 * 2 + 1
        # a bad date is refused with a message naming the box, the table stays
        app.screen.query_one("#flt-since", Input).value = "May 25"
        assert not app.screen.apply_filters()
        assert table.row_count == 7 * 2 + 1
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PolicySummaryScreen)
        table = app.screen.query_one("#table", PagedTable)
        # the filter carried over from the Overview, and says so
        flt = queries.TableFilter(domain="example.org", since=date(2026, 5, 25),
                                  until=date(2026, 5, 31))
        assert table.total_rows == len(list(queries.policy_rows(demo_store, flt))) + 1
        assert app.screen.query_one("#flt-since", Input).value == "2026-05-25"
        assert "FILTER" in screen_text(app) and "domain contains example.org" in screen_text(app)


async def test_inbox_filter_and_escape(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"microsoft")
        await settle(pilot)
        table = inbox(app)
        orgs = {plain_row(table, i)[5] for i in range(table.row_count)}
        assert orgs == {"Microsoft Corporation"}
        assert table.row_count == min(table.page_size,
                                      queries.inbox_count(demo_store, "microsoft"))
        await pilot.press("escape")
        await settle(pilot)
        orgs = {plain_row(table, i)[5] for i in range(table.row_count)}
        assert "Google Inc." in orgs and table.row_count >= table.page_size


async def test_inbox_filter_by_dkim_verdict(demo_store: Store) -> None:
    """``/`` then ``dkim:fail`` lists the forged report alone (✗); ``dkim:none`` the unsigned
    relay's reports (?), as ``inbox --filter`` does."""
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = inbox(app)
        await pilot.press("slash", *"dkim:fail")
        await settle(pilot)
        rows = [plain_row(table, i) for i in range(table.row_count)]
        assert [(r[0], r[5]) for r in rows] == [("✗", "Google Inc.")]  # the forged "Google"
        await pilot.press(*("backspace" for _ in "fail"), *"none")
        await settle(pilot)
        marks = {plain_row(table, i)[0] for i in range(table.row_count)}
        assert marks == {"?"} and table.row_count == min(
            table.page_size, queries.inbox_count(demo_store, "dkim:none"))
        assert queries.inbox_count(demo_store, "dkim:none") > 0


async def test_live_update_when_a_report_is_ingested(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = inbox(app)
        table.move_cursor(row=5)
        key = table.ordered_rows[5].key.value
        ingest_mail(demo_store, "New Sender Ltd", END + timedelta(days=1), 900, failures=3)
        app.post_message(ReportsIngested(1))
        await settle(pilot)
        await settle(pilot)
        assert plain_row(table, 1)[5] == "New Sender Ltd"
        assert plain_row(table, 1)[3] == "3"
        # the cursor stays on the same report, which moved down one row
        assert table.ordered_rows[table.cursor_row].key.value == key
        assert table.cursor_row == 6


async def test_live_update_when_a_check_result_changes(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        card = app.screen.query_one(StatusPanel).card("example.com")
        assert card is not None and CHANGED_MARK not in card.render_text().plain
        previous = demo_statuses(NOW)[0][1]
        findings = [f for f in previous.findings if f.code != "tlsrpt.ok"]
        findings.append(finding("tlsrpt.missing", "_smtp._tls.example.com"))
        status = DomainStatus("example.com", NOW.isoformat(), worst(findings), {}, findings)
        app.post_message(DomainChecked("example.com", status, previous, NOW))
        await settle(pilot)
        text = card.render_text().plain
        assert f"{CHANGED_MARK}! TLS-RPT: no TLS-RPT record" in text
        assert any("TLS-RPT" in n.message for n in app._notifications)


async def test_untrusted_text_is_literal_and_escapes_are_stripped(demo_store: Store) -> None:
    ingest_mail(demo_store, "[bold red]X[/]\x1b[31mEVIL\x1b]0;pwned\x07\x07", END + timedelta(2), 7)
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = inbox(app)
        assert plain_row(table, 1)[5] == "[bold red]X[/]EVIL"
        await pilot.press("down")  # the cell is cut at 120 columns; the detail line is whole
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]X[/]E" in text  # the cell
        assert "[bold red]X[/]EVIL · example.com" in text  # the cursor row's detail line
        assert "\x1b" not in text and "\x07" not in text
        await pilot.press("enter")
        await settle(pilot)
        assert "[bold red]X[/]EVIL" in screen_text(app)


async def test_first_run_screen_names_the_config_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty.sqlite3")
    cfg = Config(path=tmp_path / "cfg" / "config.toml")
    app = TlsrptApp(StoreBackend(store), cfg, clock=lambda: NOW)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FirstRunScreen)
        text = screen_text(app)
        assert str(cfg.path) in text and "domains = [" in text and "[[accounts]]" in text
        await pilot.press("q")
    store.close()


@pytest.mark.parametrize(("size", "narrow"), [((80, 24), True), ((120, 40), False)])
async def test_the_inbox_is_laid_out_once_at_its_final_width(
    demo_store: Store, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], narrow: bool
) -> None:
    """The first layout is already the one for the terminal. Laid out first in the wide
    arrangement at 80 columns, the inbox was drawn for a frame at full width with its columns
    cut for the 48-column pane it had been; the tmux test read that frame once."""
    widths: list[int] = []
    on_resize = InboxTable.on_resize

    def recording(self: InboxTable) -> None:
        widths.append(self.size.width)
        on_resize(self)

    monkeypatch.setattr(InboxTable, "on_resize", recording)
    app = make_app(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-narrow") is narrow
        assert app.screen.query_one(StatusPanel).compact is narrow
        assert widths and set(widths) == {inbox(app).size.width}, widths
        if narrow:
            assert inbox(app).size.width == 80
            assert "Microsoft Corporati…" in screen_text(app)


async def test_help_opens_and_closes(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert "tlsrpt-tui help" in screen_text(app)
        assert "re-check" in str(app.screen.query_one("#help-text").render())  # (scrolls)
        await pilot.press("escape")
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


async def test_export_overview_matches_cli_format(demo_store: Store, tmp_path: Path) -> None:
    app = make_app(demo_store)
    app.export_dir = tmp_path
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        out = tmp_path / "tlsrpt-overview.csv"
        expected = "".join(tables.render(queries.overview_rows(demo_store),
                                         tables.OverviewRow, "csv"))
        assert out.read_text() == expected
        await pilot.press("e")
        await settle(pilot)
        box = app.screen.query_one(Input)
        box.value = str(tmp_path / "o.json")
        await pilot.press("enter")
        await settle(pilot)
        data = json.loads((tmp_path / "o.json").read_text())
        assert len(data["rows"]) == 421 and "successful" in data["total"]


async def test_checks_never_overlap_and_errors_become_glyphs(tmp_path: Path) -> None:
    """A slow checker and repeated `r`: at most one check per domain runs at a time."""
    store = Store(tmp_path / "s.sqlite3")
    running: dict[str, int] = {}
    peak = 0
    calls = 0
    gate = asyncio.Event()

    async def checker(domain: str):  # type: ignore[no-untyped-def]
        nonlocal peak, calls
        calls += 1
        running[domain] = running.get(domain, 0) + 1
        peak = max(peak, running[domain])
        try:
            await gate.wait()  # held until the test has pressed `r` during the run
            if domain == "broken.example":
                raise OSError("resolver unreachable")
            f = [finding("tlsrpt.ok", f"_smtp._tls.{domain}")]
            return DomainStatus(domain, NOW.isoformat(), worst(f), {}, f), None
        finally:
            running[domain] -= 1

    cfg = Config(domains=("ok.example", "broken.example"))
    app = TlsrptApp(StoreBackend(store), cfg, clock=lambda: NOW, checker=checker)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        assert set(running) == {"ok.example", "broken.example"}  # started on mount
        await pilot.press("r", "r", "r")
        await settle(pilot)
        gate.set()
        for _ in range(50):
            await pilot.pause(0.05)
            if not app._checking:
                break
        assert peak == 1
        assert calls == 2  # one per domain: the extra presses found a check running
        panel = app.screen.query_one(StatusPanel)
        broken = panel.card("broken.example").render_text().plain  # compact or not
        assert "could not check" in broken and "resolver unreachable" in broken
        assert "next in 1s" in broken  # retried soon (backoff from 1 s), not after the interval
        panel.set_compact(False)
        assert "✓ TLS-RPT" in panel.card("ok.example").render_text().plain
        assert app.is_running
    store.close()


async def test_stored_check_results_are_shown_in_demo(demo_store: Store) -> None:
    assert check_store.latest(demo_store, "example.net") is not None
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        card = app.screen.query_one(StatusPanel).card("example.net")
        text = card.render_text().plain
        assert f"{CHANGED_MARK}✗ STARTTLS mx2.example.net" in text
        assert "checked 7m00s ago · stored (demo)" in text


async def test_command_palette_offers_the_actions(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Report Overview", "Policy Summary", "Re-check DNS now", "Sync IMAP now",
                "Export table", "Filter inbox", "Help"} <= titles
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"policy summ")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PolicySummaryScreen)


async def test_unreadable_row_opens_the_raw_input_with_its_reason(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert inbox(app).cursor_row == 0
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RawScreen)
        assert app.screen.body.startswith("unreadable: ") and "gzip" in app.screen.body
        assert "TLS-Report-Domain: example.com" in app.screen.body


async def test_keyboard_only_with_no_color(demo_store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """NO_COLOR: states stay readable from the glyphs; j/k move like down/up."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color
        text = screen_text(app)
        # 80 columns: one line per domain, a glyph per item, the worst item's text
        assert "i example.com ✓✓✓✓i" in text and "✗ example.net" in text
        await pilot.press("j", "j", "k")
        await settle(pilot)
        assert inbox(app).cursor_row == 1


async def test_sync_line_shows_progress_then_result(demo_store: Store) -> None:
    from textual.widgets import ProgressBar

    from tlsrpt_tui.ui.messages import SyncFinished, SyncProgress
    from tlsrpt_tui.ui.widgets.sync_line import SyncLine

    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        line = app.screen.query_one(SyncLine)
        bar = line.query_one(ProgressBar)
        assert not bar.display
        app.post_message(SyncProgress("reports", 30, 120, "INBOX"))
        await settle(pilot)
        assert bar.display and bar.progress == 30 and bar.total == 120
        assert "syncing reports: INBOX 30/120" in screen_text(app)
        app.post_message(SyncFinished("reports", 0, "login refused for user x"))
        await settle(pilot)
        assert not bar.display
        assert "login refused for user x" in screen_text(app)
        assert app.is_running


def test_clean_removes_whole_escape_sequences_controls_and_bidi() -> None:
    from tlsrpt_tui.ui.text import cell, clean

    hostile = "[b]ok[/]\x1b[31mred\x1b]8;;http://x\x07link\x1b]8;;\x07\x1bP1$qm\x1b\\\x00\u202eevil\nz"
    assert clean(hostile) == "[b]ok[/]redlinkevil z"
    assert cell(hostile).plain == "[b]ok[/]redlinkevil z"
    assert clean(None) == ""


def test_run_tui_refuses_a_bad_config_with_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from tlsrpt_tui.ui.run import run_tui

    bad = tmp_path / "config.toml"
    bad.write_text("domains = 'not a list'\n")
    args = argparse.Namespace(db=str(tmp_path / "s.sqlite3"), config=str(bad), demo=False)
    assert run_tui(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "domains" in err


async def test_forged_report_is_marked_everywhere(demo_store: Store) -> None:
    """The demo's forged "Google" report: ✗ in the inbox, said on its screen, marked in the
    Report Overview; a verified report says who signed it; help explains the column."""
    from tlsrpt_tui.demo.generate import FORGED_REPORT_ID

    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = inbox(app)
        marks = {plain_row(table, i)[0] for i in range(1, table.row_count)}
        assert marks == {"✓", "✗", "?"}  # pass (big senders), forged, unsigned relay
        forged = next(i for i in range(1, table.row_count) if plain_row(table, i)[0] == "✗")
        table.move_cursor(row=forged)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)
        assert app.screen.report.report_id == FORGED_REPORT_ID
        text = screen_text(app)
        assert "Signature: ✗ DKIM FAIL: the signature of d=google.example" in text
        await pilot.press("escape")
        await pilot.pause()
        verified = next(i for i in range(1, table.row_count) if plain_row(table, i)[0] == "✓")
        table.move_cursor(row=verified)
        await pilot.press("enter")
        await pilot.pause()
        assert "DKIM pass: signed by d=" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("o")
        await settle(pilot)
        overview = app.screen.query_one("#table", PagedTable)
        # newest first: the forged report is among the first rows (the window holds them)
        rows = [plain_row(overview, i) for i in range(overview.row_count)]
        marked = [r for r in rows if r[0].startswith("✗ ")]
        report_id = [c.label.plain for c in overview.columns.values()].index("Report ID")
        assert [r[report_id] for r in marked] == [FORGED_REPORT_ID]
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = str(app.screen.query_one("#help-text").render())  # the whole (scrolled) text
        assert "Inbox signature column" in shown and "altered or forged" in shown
