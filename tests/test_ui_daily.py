"""The TUI for daily use: failures stand out in every colour mode, Textual's own messages
render, exports write what was asked, the raw view is what was received.

Pilot tests on the demo data (fixtures shared with test_ui_app); assertions read what the
screen shows and the styles its cells carry.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import test_ui_app
from rich.color import ColorSystem
from rich.style import Style
from test_ui_app import make_app, settle

from tlsrpt_tui.ui import styles
from tlsrpt_tui.ui.screen_text import screen_text

#: the demo store fixtures of test_ui_app (built once per module, a copy per test)
demo_template = test_ui_app.demo_template
demo_store = test_ui_app.demo_store

UI = Path(__file__).resolve().parent.parent / "tlsrpt_tui" / "ui"


def _style_at(text, offset: int) -> Style:  # type: ignore[no-untyped-def]
    """The style a Text gives the character at `offset` (its spans combined)."""
    style = Style.parse(str(text.style or ""))
    for span in text.spans:
        if span.start <= offset < span.end:
            style += Style.parse(str(span.style))
    return style


def _segments(app):  # type: ignore[no-untyped-def]
    for strip in app.screen._compositor.render_strips():
        yield from strip


# -- notifications ------------------------------------------------------------------------------


async def test_ctrl_c_hint_renders_textual_markup(demo_store) -> None:  # type: ignore[no-untyped-def]
    """Textual's own "Press ctrl+q to quit" is markup: it must render, not show [b]…[/b]."""
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
        await pilot.pause()
        await pilot.pause(0.2)
        toasts = [str(t.render()) for t in app.screen.query("Toast")]
        assert any("Press ctrl+q to quit the app" in t for t in toasts), toasts
        assert not any("[b]" in t for t in toasts)


def test_every_notification_quoting_values_is_literal() -> None:
    """Our notify calls that format values (report fields, errors) pass markup=False, since
    the app no longer forces it for every message (that broke Textual's own)."""
    missing = []
    for path in UI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "notify"):
                continue
            if not node.args or isinstance(node.args[0], ast.Constant):
                continue
            if not any(k.arg == "markup" and isinstance(k.value, ast.Constant)
                       and k.value.value is False for k in node.keywords):
                missing.append(f"{path.name}:{node.lineno}")
    assert not missing, missing


# -- failures are the most visible thing -----------------------------------------------------


def test_sixteen_colour_terminals_draw_failures_red() -> None:
    """TERM=xterm: RGB styles land on red / bright red (1, 9), not magenta; success on green."""
    styles.use(False)

    def standard(style: str, bg: bool = False) -> int | None:
        parsed = Style.parse(style)
        color = parsed.bgcolor if bg else parsed.color
        assert color is not None
        return color.downgrade(ColorSystem.STANDARD).number

    assert standard(styles.FAILED) in (1, 9)
    assert standard(styles.FAILED_MARK, bg=True) in (1, 9)
    assert standard(styles.OK) in (2, 10)
    assert standard(styles.WARNING) in (3, 11)


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
async def test_failures_stand_out_with_and_without_colour(
    demo_store, monkeypatch: pytest.MonkeyPatch, no_color: bool  # type: ignore[no-untyped-def]
) -> None:
    """The ✗ glyph and failed counts: white on red in colour; bold reverse without colour
    (Textual greys every colour under NO_COLOR, and red became the darkest grey)."""
    from tlsrpt_tui.ui.widgets.status_panel import DomainCard

    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app(demo_store)
    try:
        async with app.run_test(size=(200, 60)) as pilot:
            await settle(pilot)
            assert app.no_color is no_color
            segs = list(_segments(app))
            failed = [s.style for s in segs if s.text.strip().startswith("failed ")
                      and s.text.strip() != "failed 0"]
            # the status panel's glyphs (the inbox's ✓/✗ are DKIM marks, styled apart)
            glyphs = [(ch, _style_at(text, i)) for card in app.screen.query(DomainCard)
                      for text in [card.render_text()] for i, ch in enumerate(text.plain)]
            crosses = [style for glyph, style in glyphs if glyph == "✗"]
            checks = [style for glyph, style in glyphs if glyph == "✓"]
            assert crosses and failed and checks
            for style in crosses + failed:
                assert style.bold
                if no_color:
                    assert style.reverse
                else:
                    assert style.bgcolor is not None and style.bgcolor.get_truecolor().red > 150
            assert not any(s.bold or s.reverse for s in checks)
    finally:
        styles.use(False)


# -- export ---------------------------------------------------------------------------------


async def _export(pilot, path: Path) -> str:  # type: ignore[no-untyped-def]
    """Press e, type `path`, Enter; the dialog's message (empty when it closed)."""
    from textual.widgets import Input, Static

    from tlsrpt_tui.ui.screens.export import ExportScreen

    app = pilot.app
    if not isinstance(app.screen, ExportScreen):
        await pilot.press("e")
        await pilot.pause()
    app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")
    await settle(pilot)
    if isinstance(app.screen, ExportScreen):
        return str(app.screen.query_one("#export-error", Static).render())
    return ""


async def test_inbox_export_writes_every_row_and_asks_before_replacing(
    demo_store, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """Every inbox row (the demo's reports and its unreadable mail) though only a page is
    loaded on screen; the unreadable row's reason and file sit in their own columns; an
    existing file is replaced only after a second Enter; a bad folder is explained in words."""
    import csv

    from tlsrpt_tui.service import queries
    from tlsrpt_tui.ui.widgets.inbox import InboxTable

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(InboxTable).row_count < 100  # a page, not the inbox
        out = tmp_path / "inbox.csv"
        assert await _export(pilot, out) == ""
        rows = list(csv.DictReader(out.open()))
        inbox_rows = queries.inbox_count(demo_store) + queries.unreadable_count(demo_store)
        assert len(rows) == inbox_rows > app.screen.query_one(InboxTable).row_count
        unreadable = [r for r in rows if r["Unreadable"]]
        assert len(unreadable) == 1
        assert "gzip" in unreadable[0]["Unreadable"] and unreadable[0]["Source"]
        assert unreadable[0]["Organization"] == "" and unreadable[0]["Domain"] == ""
        assert sum(int(r["Failed"] or 0) for r in rows) > 0

        out.write_text("keep me")
        said = await _export(pilot, out)
        assert "exists" in said and out.read_text() == "keep me"
        assert await _export(pilot, out) == ""  # the second Enter replaces it
        assert len(list(csv.DictReader(out.open()))) == inbox_rows

        said = await _export(pilot, tmp_path / "no-such-folder" / "x.csv")
        assert "does not exist" in said and "Errno" not in said, said
        said = await _export(pilot, tmp_path / "x.txt")
        assert ".csv or .json" in said, said


# -- the raw view -----------------------------------------------------------------------------


def _expected_json(path: Path) -> list[object]:
    """The report JSON documents in a sample, decoded with the standard library only (an
    oracle independent of core.parse): a .json file, base64 of gzip, or mail attachments."""
    import base64
    import email
    import gzip
    import json

    data = path.read_bytes()
    if path.suffix == ".json":
        return [json.loads(data)]
    if path.suffix == ".b64":
        return [json.loads(gzip.decompress(base64.b64decode(data)))]
    out = []
    for part in email.message_from_bytes(data).walk():
        body = part.get_payload(decode=True)
        if not body:
            continue
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        try:
            doc = json.loads(body)
        except ValueError:
            continue
        if isinstance(doc, dict) and "policies" in doc:
            out.append(doc)
    return out


def test_raw_view_of_each_sample_is_its_json_as_received(
    samples_dir: Path, tmp_path: Path
) -> None:
    """`v` shows a report as the sender wrote it: for every shared sample the view's text is
    that sample's JSON (an mx-host string stays a string, nothing is added); the normalised
    form is the second view."""
    import json

    from tlsrpt_tui.core.model import Origin, RawInput
    from tlsrpt_tui.service import queries
    from tlsrpt_tui.service.ingest import ingest_stream
    from tlsrpt_tui.store import reports as db
    from tlsrpt_tui.store.database import Store
    from tlsrpt_tui.ui.screens.raw import RawScreen

    files = sorted(p for p in samples_dir.rglob("*") if p.is_file() and p.suffix != ".md")
    checked = differs = 0
    for n, path in enumerate(files):
        expected = _expected_json(path)
        if not expected:
            continue
        store = Store(tmp_path / f"{n}.sqlite3")
        raw = RawInput(path.name, path.read_bytes(), Origin(kind="file", path=path.name))
        ingest_stream(store, [raw])
        pks = [pk for i in db.iter_input_pks(store) for pk in db.report_pks_of_input(store, i)]
        assert len(pks) == len(expected), path
        for pk in pks:
            report, meta = queries.report_detail(store, pk)  # type: ignore[misc]
            screen = RawScreen.for_report(report, queries.raw_input_bytes(store, meta.pk))
            assert screen.title_text.startswith("JSON as received"), path
            assert json.loads(screen.body) in expected, path
            assert len(screen.views) == 2 and screen.views[1][0].startswith("Normalised")
            differs += json.loads(screen.body) != json.loads(screen.views[1][1])
            checked += 1
        store.close()
    assert checked >= len(files) - 2
    assert differs  # some senders' quirks are visible only in the received form


# -- the demo tells one story ------------------------------------------------------------------


def test_demo_certificate_story_matches_its_reports(demo_store) -> None:  # type: ignore[no-untyped-def]
    """The certificate-expired reports start on the day the live check says mx2's certificate
    expired; the check before warned of that same date, and was taken before it."""
    from tlsrpt_tui.service import queries
    from tlsrpt_tui.store import checks as check_store

    expired_days = sorted(r.date[:10] for r in queries.failure_rows(demo_store)
                          if r.result_type == "certificate-expired")
    assert expired_days and expired_days[-1] == test_ui_app.END.isoformat()
    latest = check_store.latest(demo_store, "example.net")
    previous = check_store.previous(demo_store, "example.net")
    assert latest is not None and previous is not None

    def message(check: dict, code: str) -> str:
        return next(f["message"] for f in check["findings"] if f["code"] == code)

    assert f"expired {expired_days[0]} 00:00 UTC" in message(latest, "tls.expired")
    assert f"expires {expired_days[0]} UTC" in message(previous, "tls.expiring-soon")
    assert previous["checked_at"][:10] < expired_days[0] <= latest["checked_at"][:10]


# -- layout at any size, keys the same everywhere -------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_dashboard_shows_every_domain_and_the_inbox_domain(
    demo_store, size: tuple[int, int]  # type: ignore[no-untyped-def]
) -> None:
    """At every size: each demo domain's state and why it fails, the newest inbox rows with
    their Domain; narrow terminals get one line per domain."""
    app = make_app(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        text = screen_text(app)
        for card in ("i example.com", "✗ example.net", "i example.org"):
            assert card in text, (card, text)  # each domain's card, with its state
        assert "✗ example.net" in text and "STARTTLS mx2.example.net" in text
        header = next(line for line in text.splitlines() if " Date " in line)
        assert "Domain" in header and "Failed" in header and "OK" in header
        newest = test_ui_app.END.isoformat()
        assert sum(newest in line and "example." in line for line in text.splitlines()) >= 3
        if size[0] < 100:
            assert "✓ TLS-RPT" not in text  # compact: a glyph per item
        else:
            assert "✓ TLS-RPT" in text and "expired 2026-05-24 00:00" in text  # wrapped, whole


async def test_status_card_enter_opens_the_finding_with_fix_and_change(
    demo_store,  # type: ignore[no-untyped-def]
) -> None:
    """Tab reaches the domain cards (focus visible), Enter shows the findings in full: the
    fix, the RFC 8460 result type, what changed since the previous check with both times."""
    from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
    from tlsrpt_tui.ui.screens.finding import FindingScreen
    from tlsrpt_tui.ui.widgets.status_panel import DomainCard

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for _ in range(8):
            if isinstance(app.focused, DomainCard) and app.focused.domain == "example.net":
                break
            await pilot.press("tab")
        assert isinstance(app.focused, DomainCard) and app.focused.domain == "example.net"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FindingScreen)
        text = screen_text(app)
        assert "tls.expired" in text and "fix:" in text
        assert "senders report: certificate-expired" in text
        assert "changed since the previous check" in text
        assert "2026-05-20 22:00 UTC" in text and "2026-06-01 07:53 UTC" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_focused_card_is_marked_and_shift_tab_goes_back(demo_store) -> None:  # type: ignore[no-untyped-def]
    """At 80x24 the card holding the focus is marked on screen (its line's first cell), Tab
    moves the mark down the cards, Shift+Tab back."""
    from tlsrpt_tui.ui.widgets.status_panel import DomainCard

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)

        def first_cells() -> dict[str, str]:
            lines = screen_text(app).splitlines()
            return {d: next(line for line in lines if f" {d} " in line)[0]
                    for d in ("example.com", "example.net", "example.org")}

        unmarked = first_cells()
        assert len(set(unmarked.values())) == 1
        while not (isinstance(app.focused, DomainCard) and app.focused.domain == "example.net"):
            await pilot.press("tab")
        await pilot.pause()
        marked = first_cells()
        assert marked["example.net"] != unmarked["example.net"], marked
        assert marked["example.com"] == marked["example.org"] == unmarked["example.com"]
        await pilot.press("shift+tab")
        await pilot.pause()
        assert isinstance(app.focused, DomainCard) and app.focused.domain == "example.com"
        assert first_cells()["example.com"] == marked["example.net"]


async def test_policy_summary_detail_line_shows_the_mx_list(demo_store) -> None:  # type: ignore[no-untyped-def]
    """The MX list an mx-uncovered failure needs, readable at 80x24: the cursor row's Policy
    Details whole on the detail line (issue 13: readable nowhere)."""
    import re

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        for _ in range(10):  # down to a policy with two MX (example.org's has one)
            detail = " ".join(str(app.screen.query_one("#table-detail").render()).split())
            found = re.search(r"mx=([\w.-]+(?:, [\w.-]+)*);", detail)
            if found and len(found.group(1).split(", ")) >= 2:
                break
            await pilot.press("down")
            await pilot.pause()
        assert found and len(found.group(1).split(", ")) >= 2, detail
        assert "max_age=" in detail


async def test_zoom_gives_the_focused_pane_the_screen(demo_store) -> None:  # type: ignore[no-untyped-def]
    """z on the status panel at 80x24: the whole cards and the charts; z again: both panes."""
    from tlsrpt_tui.ui.widgets.status_panel import DomainCard

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query(DomainCard).first().focus()
        await pilot.press("z")
        await pilot.pause()
        text = screen_text(app)
        assert "✓ TLS-RPT" in text and "Date " not in text
        await pilot.press("z")
        await pilot.pause()
        text = screen_text(app)
        assert "Date " in text and "✓ TLS-RPT" not in text


#: the table screens' keys as data: (keys pressed on the Overview, what the screen then shows)
TABLE_KEYS = [
    (["S"], "oldest first"),
    (["S", "S"], "newest first"),
    (["d", *"net", "enter"], "domain contains net"),
    (["f", *"2026-05-31", "enter", "t", *"2026-05-01", "enter"], "newest first"),
    (["end"], "row {rows}\n"),
    (["end", "home"], "row 1\n"),
    (["pagedown"], "row "),
]


@pytest.mark.parametrize(("keys", "shown"), TABLE_KEYS, ids=lambda v: "-".join(v)
                         if isinstance(v, list) else None)
async def test_table_keys(demo_store, keys: list[str], shown: str) -> None:  # type: ignore[no-untyped-def]
    from tlsrpt_tui.service import queries

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        text = screen_text(app)
        rows = sum(1 for _ in queries.overview_keys(demo_store))
        assert shown.format(rows=rows) in text, text
        # the numbers never leave the screen: the counts' columns and the docked Total
        assert "Successful" in text and "Failed" in text
        total = next(line for line in text.splitlines()
                     if line.strip().startswith("Total") and "rows" in line)
        assert "successful" in total and any(c.isdigit() for c in total)


async def test_table_screens_switch_and_keep_the_filter(demo_store) -> None:  # type: ignore[no-untyped-def]
    """o p o p o is one screen (one Escape back); a substring domain filter carries over and
    stays visible; a From after To is refused in words; newest rows first."""
    from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
    from tlsrpt_tui.ui.screens.tables import OverviewScreen, PolicySummaryScreen
    from tlsrpt_tui.ui.widgets.paged import PagedTable

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        first = app.screen.query_one("#table", PagedTable).get_row_at(0)[0].plain
        assert first == test_ui_app.END.isoformat()  # newest first
        await pilot.press("d", *"net", "enter")
        await settle(pilot)
        await pilot.press("p", "o", "p")
        await settle(pilot)
        assert isinstance(app.screen, PolicySummaryScreen)
        text = screen_text(app)
        assert "FILTER" in text and "domain contains net" in text
        from tlsrpt_tui.service import queries

        net = queries.TableFilter(domain="example.net")
        expected = len(list(queries.policy_rows(demo_store, net)))
        assert f"{expected} rows" in text  # example.net's policies: 'net' matched as a part
        await pilot.press("f", *"2026-05-31", "enter", "t", *"2026-05-01", "enter")
        await pilot.pause(0.2)
        toasts = " ".join(str(t.render()) for t in app.screen.query("Toast"))
        assert "is after to" in toasts
        await pilot.press("escape")  # leaves the box: it reads the applied (empty) date again
        assert app.screen.query_one("#flt-until").value == ""
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


def test_chart_bars_share_one_labelled_scale() -> None:
    """One scale for every domain: 4 failures are lower than 114, none is blank, the top is
    full; the dashboard labels the lines, the axis and the scale (test below)."""
    from tlsrpt_tui.ui.widgets.totals import BARS, bar_line

    line = bar_line([0, 1, 4, 114, 9000], 9000)
    assert line[0] == " " and line[1] == BARS[0] and line[-1] == BARS[-1]
    assert BARS.index(line[2]) < BARS.index(line[3]) < BARS.index(line[4])


async def test_dashboard_chart_has_axis_scale_and_labels(demo_store) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo_store)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        await settle(pilot)
        text = screen_text(app)
        assert "today" in text and "one log scale" in text and "sessions/day" in text
        lines = text.splitlines()
        assert sum(line.strip().startswith("ok ") for line in lines) == 3
        assert sum(line.strip().startswith("fail ") for line in lines) == 3


async def test_inbox_filter_finds_a_result_type(demo_store) -> None:  # type: ignore[no-untyped-def]
    """`/expired`: the reports whose failures are certificate-expired, with their domain
    (issue 13: it found nothing)."""
    from tlsrpt_tui.service import queries
    from tlsrpt_tui.ui.widgets.inbox import InboxTable

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"expired")
        await settle(pilot)
        table = app.screen.query_one(InboxTable)
        expected = queries.inbox_count(demo_store, "expired")
        assert expected > 0 and table.row_count == min(expected, table.loaded)
        text = screen_text(app)
        rows = [line for line in text.splitlines() if test_ui_app.END.isoformat() in line]
        assert rows and all("example.net" in r or "example.com" in r for r in rows), text


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_inbox_long_cells_are_readable_at_any_size(
    demo_store, size: tuple[int, int]  # type: ignore[no-untyped-def]
) -> None:
    """The cursor row's organization, domain and types whole on the line under the inbox (an
    unreadable row: its source and reason); from 200 columns the cells themselves are whole;
    at 80 no column of the inbox is off-screen."""
    from tlsrpt_tui.ui.widgets.inbox import InboxTable

    app = make_app(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one(InboxTable)
        detail = str(app.screen.query_one("#inbox-detail").render())
        assert "demo:INBOX/422: attachment" in detail  # the unreadable row comes first
        while "Microsoft" not in table.get_row_at(table.cursor_row)[5].plain:
            await pilot.press("down")
        await pilot.pause()
        detail = str(app.screen.query_one("#inbox-detail").render())
        assert "Microsoft Corporation · example." in detail and "STS" in detail, detail
        text = screen_text(app)
        header = next(line for line in text.splitlines() if " Date " in line)
        assert header.rstrip().endswith("Types")  # every column on screen
        if size[0] >= 200:
            rows = [line for line in text.splitlines() if "Microsoft" in line]
            assert rows and all("Microsoft Corporation " in line for line in rows), rows
        else:
            assert "Microsoft Corporati…" in text  # cut, and says so


async def test_alerts_and_failures_fit_80x24(demo_store) -> None:  # type: ignore[no-untyped-def]
    """At 80x24 the alerts table shows every demo alert above the highlighted one's text (it
    had room for one row), and the Failures detail line ends with the reason code."""
    from textual.widgets import DataTable

    from tlsrpt_tui.ui.screens.alerts import AlertsScreen

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        table = app.screen.query_one("#alerts", DataTable)
        assert table.row_count >= 4
        text = screen_text(app)
        codes = [line for line in text.splitlines() if line.startswith(" 20")]
        assert len(codes) == table.row_count, text
        assert "[tlsrpt-tui]" in text  # the highlighted alert's text below
        await pilot.press("escape", "F")
        await settle(pilot)
        text = screen_text(app)
        assert "Reason: X509_V_ERR_CERT_HAS_EXPIRED" in text, text


async def test_a_growing_window_fills_the_inbox_and_widens_its_columns(
    demo_store,  # type: ignore[no-untyped-def]
) -> None:
    """80x24 → 200x60: the inbox's rows fill the taller window without a key pressed (it
    stayed a 24-row page until one scrolled) and its names are no longer cut."""
    from tlsrpt_tui.ui.widgets.inbox import InboxTable

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(InboxTable)
        assert "Microsoft Corporation " not in screen_text(app)
        await pilot.resize_terminal(200, 60)
        await settle(pilot)
        await settle(pilot)
        assert table.row_count >= table.size.height
        text = screen_text(app)
        last = [line for line in text.splitlines() if "example." in line][-1]
        assert len([line for line in text.splitlines() if " 2026-" in line]) >= 50, text
        assert "Microsoft Corporation " in text, last


async def test_home_and_end_move_the_cursor_in_the_inbox(demo_store) -> None:  # type: ignore[no-untyped-def]
    """Home/End are rows everywhere: End goes to the last row held and the next page follows;
    Home back to the first."""
    from tlsrpt_tui.ui.widgets.inbox import InboxTable

    app = make_app(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(InboxTable)
        held = table.row_count
        await pilot.press("end")
        await settle(pilot)
        assert table.cursor_row == held - 1 and table.row_count > held
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_row == 0
