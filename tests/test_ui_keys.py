"""Every key of the keymap, on every screen that offers it, pressed in the demo app at 80×24:
what the screen shows afterwards.

The keymap is data (tlsrpt_tui/ui/keymap.py), so this is a table test: SCREENS says how to
reach each screen and which scopes of the keymap it offers; CHECKS says, per (scope, key),
what pressing it must do. A key added to the keymap without a check here fails
test_every_offered_key_has_a_check, so no key goes untested.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import test_ui_app
from test_ui_app import make_app, settle
from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from tlsrpt_tui.ui import keymap
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.screens.alerts import AlertsScreen
from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
from tlsrpt_tui.ui.screens.export import ExportScreen
from tlsrpt_tui.ui.screens.finding import FindingScreen
from tlsrpt_tui.ui.screens.help import HelpScreen
from tlsrpt_tui.ui.screens.policy import PolicyScreen
from tlsrpt_tui.ui.screens.raw import RawScreen
from tlsrpt_tui.ui.screens.readiness import ReadinessScreen
from tlsrpt_tui.ui.screens.records import RecordsScreen
from tlsrpt_tui.ui.screens.report import ReportScreen
from tlsrpt_tui.ui.screens.tables import (
    FailuresScreen,
    OverviewScreen,
    PolicySummaryScreen,
    TableScreen,
)
from tlsrpt_tui.ui.widgets.keys_footer import screen_scopes
from tlsrpt_tui.ui.widgets.paged import PagedTable

demo_template = test_ui_app.demo_template
demo_store = test_ui_app.demo_store

#: name -> (keys from the dashboard, the screen they reach, the keymap scopes tested there)
SCREENS: dict[str, tuple[tuple[str, ...], type, tuple[str, ...]]] = {
    "dashboard": ((), DashboardScreen, ("dashboard", "rows", "app")),
    "card": (("tab", "tab"), DashboardScreen, ("card",)),
    "overview": (("o",), OverviewScreen, ("tables", "summaries", "rows", "app")),
    "policies": (("p",), PolicySummaryScreen, ("tables", "summaries", "rows", "app")),
    "failures": (("F",), FailuresScreen, ("tables", "rows", "app")),
    "report": (("o", "enter"), ReportScreen, ("report", "rows", "app")),
    "policy": (("F", "enter"), PolicyScreen, ("policy", "rows", "app")),
    "raw": (("o", "enter", "v"), RawScreen, ("raw", "app")),
    "finding": (("tab", "tab", "enter"), FindingScreen, ("finding", "app")),
    "alerts": (("a",), AlertsScreen, ("alerts", "rows", "app")),
    "readiness": (("R",), ReadinessScreen, ("readiness", "app")),
    "records": (("D",), RecordsScreen, ("records", "app")),
    "help": (("question_mark",), HelpScreen, ("help",)),
    "export": (("o", "e"), ExportScreen, ("export",)),
}

#: the keys a display-only row (no action: the focused widget handles them) stands for
PRESSED = {"Enter": ("enter",), "Tab": ("tab",), "PgUp / PgDn": ("pagedown", "pageup"),
           "Ctrl+P": ("ctrl+p",)}

Check = Callable[..., Awaitable[None]]


def offered(name: str) -> list[tuple[str, keymap.Key]]:
    """(scope, row) for each keymap row the screen offers; quitting last (it ends the app)."""
    scopes = SCREENS[name][2]
    rows = [(next(s for s in scopes if s in k.where), k) for k in keymap.KEYMAP
            if any(s in k.where for s in scopes)]
    return sorted(rows, key=lambda r: r[1].action == "quit")


def keys_of(row: keymap.Key) -> tuple[str, ...]:
    return PRESSED.get(row.display, ()) if row.action is None else row.keys


def text(app) -> str:  # type: ignore[no-untyped-def]
    return " ".join(screen_text(app).split())


def toasts(app) -> str:  # type: ignore[no-untyped-def]
    return " ".join(str(t.render()) for t in app.screen.query("Toast"))


async def goto(pilot, name: str) -> None:  # type: ignore[no-untyped-def]
    """From wherever the last key left the app: back to a fresh dashboard, then to `name`."""
    app = pilot.app
    while len(app.screen_stack) > 2:
        app.pop_screen()
        await pilot.pause()
    app.table_filter = None
    dash = app.screen
    assert isinstance(dash, DashboardScreen)
    dash.remove_class("-zoom-left", "-zoom-right")
    dash._fit_status()
    dash.action_clear_filter()
    dash.query_one("#inbox").focus()
    await settle(pilot)
    for key in SCREENS[name][0]:
        await pilot.press(key)
        await settle(pilot)
    assert isinstance(app.screen, SCREENS[name][1]), (name, app.screen)


def table(app) -> DataTable:  # type: ignore[no-untyped-def]
    focused = app.focused
    assert isinstance(focused, DataTable), focused
    return focused


def position(t: DataTable) -> int:
    return t.position if isinstance(t, PagedTable) else t.cursor_row


def rows(t: DataTable) -> int:
    return t.total_rows if isinstance(t, PagedTable) else t.row_count


async def press(pilot, *keys: str) -> None:  # type: ignore[no-untyped-def]
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


# -- the checks: (pilot, the key pressed, the screen's name) --------------------------------


def opens(screen_type: type, *shown: str) -> Check:
    async def check(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
        before = len(pilot.app.screen_stack)
        await press(pilot, key)
        assert isinstance(pilot.app.screen, screen_type), (key, name, pilot.app.screen)
        for part in shown:
            assert part in text(pilot.app), (key, name, part)
        if issubclass(screen_type, TableScreen) and issubclass(SCREENS[name][1], TableScreen):
            assert len(pilot.app.screen_stack) == before  # switched, not stacked
    return check


def back_to(screen_type: type) -> Check:
    async def check(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
        before = len(pilot.app.screen_stack)
        await press(pilot, key)
        assert isinstance(pilot.app.screen, screen_type), (key, name, pilot.app.screen)
        assert len(pilot.app.screen_stack) == before - 1
    return check


async def esc_back(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """Escape goes back one level: to where the screen was opened from."""
    came_from = {"report": OverviewScreen, "policy": ReportScreen, "raw": ReportScreen}
    await back_to(came_from.get(name, DashboardScreen))(pilot, key, name)


def notifies(message: str) -> Check:
    async def check(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
        await press(pilot, key)
        await pilot.pause(0.1)
        assert message in toasts(pilot.app), (key, name, toasts(pilot.app))
    return check


async def quits(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(key)
    await pilot.pause()
    assert pilot.app._exit, (key, name)  # the app is leaving


async def palette(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, key)
    assert isinstance(pilot.app.screen, CommandPalette)
    await press(pilot, *"failures across")
    await pilot.pause(0.3)
    assert "Failures across reports" in text(pilot.app)  # found by the name the keymap gives
    await press(pilot, "escape")


async def enter_opens(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """Enter on the row under the cursor opens what it stands for."""
    expected = {"dashboard": RawScreen,  # the inbox's first line: the unreadable mail
                "overview": ReportScreen, "policies": PolicyScreen, "failures": PolicyScreen,
                "report": PolicyScreen, "alerts": (ReportScreen, OverviewScreen),
                "card": FindingScreen}[name]
    await press(pilot, key)
    assert isinstance(pilot.app.screen, expected), (name, pilot.app.screen)
    if name == "failures":  # that failure: the cursor on it, its result type explained
        assert "Result type: certificate-expired" in text(pilot.app)


async def tab_moves_focus(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, key)
    assert pilot.app.focused is not None and pilot.app.focused.id == "left"
    await press(pilot, key)
    assert type(pilot.app.focused).__name__ == "DomainCard"
    assert "Enter Findings" in screen_text(pilot.app).splitlines()[-1]  # its own Enter


async def dashboard_escape(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """Escape in the inbox filter closes it and every row is back."""
    inbox = pilot.app.screen.query_one("#inbox", DataTable)
    every = inbox.row_count
    await press(pilot, "slash", *"no such organization")
    assert inbox.row_count == 0
    await press(pilot, key)
    assert not pilot.app.screen.query_one("#filter", Input).display
    assert inbox.row_count == every


async def slash_filters_inbox(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, key)
    box = pilot.app.screen.query_one("#filter", Input)
    assert box.display and pilot.app.focused is box
    await press(pilot, *"example.net")
    inbox = pilot.app.screen.query_one("#inbox", DataTable)
    reports = [i for i in range(inbox.row_count)
               if (inbox.coordinate_to_cell_key((i, 0)).row_key.value or "").startswith("r")]
    assert reports and len(reports) < 421
    assert all(inbox.get_row_at(i)[2].plain == "example.net" for i in reports)


async def inbox_only_failing(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """x in the inbox: only reports with failed sessions, the filter box saying so; again:
    every row."""
    inbox = pilot.app.screen.query_one("#inbox", DataTable)
    every = inbox.row_count
    await press(pilot, key)
    box = pilot.app.screen.query_one("#filter", Input)
    assert box.display and box.value == "only:failing" and pilot.app.focused is inbox
    assert 0 < inbox.row_count < every
    for i in range(inbox.row_count):
        assert inbox.get_row_at(i)[3].plain not in ("0", ""), i
    await press(pilot, key)
    assert not box.display and inbox.row_count == every


async def inbox_sorts(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """S in the inbox: the reports oldest first, the Date header saying so; again: newest."""
    inbox = pilot.app.screen.query_one("#inbox", DataTable)

    def first_day() -> str:
        days = [inbox.get_row_at(i)[1].plain for i in range(inbox.row_count)]
        return next(d for d in days if d[:2] == "20")

    newest = first_day()
    await press(pilot, key)
    assert first_day() < newest and "Date ↑" in text(pilot.app)
    await press(pilot, key)
    assert first_day() == newest and "Date ↑" not in text(pilot.app)


async def zooms(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, key)
    assert not pilot.app.screen.query_one("#left").display
    assert "Date" in text(pilot.app)  # the inbox fills the screen
    await press(pilot, key)
    assert pilot.app.screen.query_one("#left").display


def focuses(box: str) -> Check:
    async def check(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
        await press(pilot, key)
        assert isinstance(pilot.app.focused, Input) and pilot.app.focused.id == box
        if box == "flt-domain":
            await press(pilot, *"net", "enter")
            assert "FILTER domain contains net" in text(pilot.app)
    return check


async def only_failing(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    t = table(pilot.app)
    every = t.total_rows
    await press(pilot, key)
    shown = text(pilot.app)
    assert "FILTER only failing" in shown
    failed = [c.label.plain for c in t.columns.values()].index("Failed")
    assert 0 < t.total_rows < every
    for i in range(t.row_count - 1):  # the last row held may be the Total
        assert t.get_row_at(i)[failed].plain not in ("0", ""), i
    await press(pilot, key)
    assert "only failing" not in text(pilot.app) and t.total_rows == every


async def sorts(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    t = table(pilot.app)
    newest = t.get_row_at(0)[0].plain[-10:]
    await press(pilot, key)
    assert "oldest first" in text(pilot.app)
    assert t.get_row_at(0)[0].plain[-10:] < newest


async def raw_views(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, key)
    assert isinstance(pilot.app.screen, RawScreen)
    assert ("JSON as received" if key == "v" else "Raw input") in text(pilot.app)


async def switches_view(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    assert "JSON as received" in text(pilot.app)
    await press(pilot, key)
    assert "Normalised JSON" in text(pilot.app)


async def readiness_window(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    assert "last 30 days" in text(pilot.app)
    await press(pilot, key)
    assert "last 90 days" in text(pilot.app)


async def records_mode(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, key)
    assert "mode enforce" in text(pilot.app)
    await press(pilot, key)
    assert "mode testing" in text(pilot.app)


async def help_closes(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, key)
    assert isinstance(pilot.app.screen, DashboardScreen)


async def next_row(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    t = table(pilot.app)
    start = position(t)
    await press(pilot, key)
    assert position(t) == min(start + 1, rows(t) - 1)


async def previous_row(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    t = table(pilot.app)
    await press(pilot, "j")
    moved = position(t)
    await press(pilot, key)
    assert position(t) == max(moved - 1, 0)


async def last_row(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    t = table(pilot.app)
    held = rows(t)
    await press(pilot, key)
    assert position(t) == held - 1  # the last row held (the inbox then loads more)
    if name == "dashboard":
        assert t.row_count > held


async def first_row(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    t = table(pilot.app)
    await press(pilot, "end")
    await press(pilot, key)
    assert position(t) == 0


async def pages(pilot, key: str, name: str) -> None:  # type: ignore[no-untyped-def]
    t = table(pilot.app)
    await press(pilot, "pagedown")
    if rows(t) > 20:
        assert position(t) > 5  # a page, not a row
    await press(pilot, "pageup")
    assert position(t) == 0


#: (scope, key as displayed, action) -> check; the action tells apart one key's meanings
CHECKS: dict[tuple[str, str], Check] = {
    ("app", "o"): opens(OverviewScreen, "Report Overview"),
    ("app", "p"): opens(PolicySummaryScreen, "Policy Summary"),
    ("app", "F"): opens(FailuresScreen, "Failures", "Result Type"),
    ("app", "a"): opens(AlertsScreen, "newest first"),
    ("app", "r"): notifies("demo mode: showing stored check results"),
    ("app", "s"): notifies("demo mode: no IMAP accounts to sync"),
    ("app", "?"): opens(HelpScreen, "tlsrpt-tui help"),
    ("app", "q"): quits,
    ("app", "Ctrl+P"): palette,
    ("dashboard", "Enter"): enter_opens,
    ("dashboard", "Tab"): tab_moves_focus,
    ("dashboard", "Esc"): dashboard_escape,
    ("dashboard", "/"): slash_filters_inbox,
    ("dashboard", "z"): zooms,
    ("dashboard", "x"): inbox_only_failing,
    ("dashboard", "S"): inbox_sorts,
    ("dashboard", "R"): opens(ReadinessScreen, "Enforce readiness"),
    ("dashboard", "D"): opens(RecordsScreen, "Records to publish"),
    ("dashboard", "e"): opens(ExportScreen, "Export"),
    ("card", "Enter"): enter_opens,
    ("tables", "Enter"): enter_opens,
    ("tables", "Esc"): esc_back,
    ("tables", "/"): focuses("flt-domain"),
    ("tables", "d"): focuses("flt-domain"),
    ("tables", "f"): focuses("flt-since"),
    ("tables", "t"): focuses("flt-until"),
    ("tables", "S"): sorts,
    ("tables", "e"): opens(ExportScreen, "Export"),
    ("summaries", "x"): only_failing,
    ("rows", "j"): next_row,
    ("rows", "k"): previous_row,
    ("rows", "Home"): first_row,
    ("rows", "End"): last_row,
    ("rows", "PgUp / PgDn"): pages,
    ("report", "Enter"): enter_opens,
    ("report", "Esc"): esc_back,
    ("report", "v"): raw_views,
    ("report", "m"): raw_views,
    ("report", "e"): opens(ExportScreen, "Export"),
    ("policy", "Esc"): esc_back,
    ("policy", "e"): opens(ExportScreen, "Export"),
    ("raw", "Esc"): esc_back,
    ("raw", "n"): switches_view,
    ("finding", "Esc"): esc_back,
    ("alerts", "Enter"): enter_opens,
    ("alerts", "Esc"): esc_back,
    ("readiness", "Esc"): esc_back,
    ("readiness", "w"): readiness_window,
    ("readiness", "D"): opens(RecordsScreen, "Records to publish"),
    ("records", "Esc"): esc_back,
    ("records", "m"): records_mode,
    ("records", "c"): notifies("copied"),
    ("help", "Esc"): help_closes,
    ("help", "?"): help_closes,
    ("export", "Esc"): back_to(OverviewScreen),
}


def test_every_offered_key_has_a_check() -> None:
    """Each row of the keymap is reached by some screen here, and each has a check."""
    tested = {s for _keys, _type, scopes in SCREENS.values() for s in scopes}
    assert {s for k in keymap.KEYMAP for s in k.where} - tested == {"first-run"}
    missing = {(scope, row.display) for name in SCREENS for scope, row in offered(name)
               if (scope, row.display) not in CHECKS}
    assert not missing, missing
    for name in SCREENS:
        for _scope, row in offered(name):
            assert keys_of(row), row


#: The screens whose every key test_ui_keys_<group>.py presses, one module per group. Why
#: three modules: each screen takes 20-75 s, 8 min 40 s together, and the suite's workers
#: take a module each (``--dist loadfile``), so in one module they were the last ~4 minutes
#: of every run, on one worker while the others sat idle.
KEY_GROUPS: dict[str, tuple[str, ...]] = {
    "summaries": ("policies", "failures", "policy"),
    "reports": ("overview", "report", "raw"),
    "screens": ("dashboard", "card", "finding", "alerts", "readiness", "records", "help",
                "export"),
}


def test_every_screen_is_in_a_key_group() -> None:
    grouped = [name for names in KEY_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(SCREENS)  # each screen once


def key_test(group: str):  # type: ignore[no-untyped-def]
    """The test of KEY_GROUPS[group]'s screens, for its module test_ui_keys_<group>.py."""

    @pytest.mark.parametrize("name", KEY_GROUPS[group])
    async def test_every_key_of_the_screen(demo_store, name: str) -> None:  # type: ignore[no-untyped-def]
        await every_key_of_the_screen(demo_store, name)

    return test_every_key_of_the_screen


async def every_key_of_the_screen(store, name: str) -> None:  # type: ignore[no-untyped-def]
    """Press each key the screen offers, from a fresh visit each, and check what it did."""
    app = make_app(store)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await goto(pilot, name)
        assert set(SCREENS[name][2]) <= set(screen_scopes(app.screen)) | {"app"}
        for scope, row in offered(name):
            for key in keys_of(row):
                await goto(pilot, name)
                await CHECKS[(scope, row.display)](pilot, key, name)


async def test_first_run_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The first-run screen (no config, empty store) offers q, and q quits."""
    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.service.config import Config
    from tlsrpt_tui.store.database import Store
    from tlsrpt_tui.ui.app import TlsrptApp
    from tlsrpt_tui.ui.screens.first_run import FirstRunScreen

    store = Store(tmp_path / "empty.sqlite3")
    app = TlsrptApp(StoreBackend(store), Config(path=tmp_path / "config.toml"))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, FirstRunScreen)
            assert "q Quit" in screen_text(app).splitlines()[-1]
            assert [k.display for k in keymap.entries("first-run")] == ["q"]
            await quits(pilot, "q", "first-run")
    finally:
        store.close()
