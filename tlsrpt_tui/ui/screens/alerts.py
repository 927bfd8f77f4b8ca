"""The alerts screen (key ``a``): alerts newest first, with their delivery state per channel.

Alerts are raised by ``tlsrpt-tui watch`` (or this app's own sync) into the store; the list is
read through the injected service (off the loop) and re-read when the store changes (the app
polls its change counter and publishes it in its live state). Enter opens what an alert is
about: its report, or the Report Overview filtered to its domain.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.live import LiveState
from tlsrpt_tui.ui.messages import OpenDomain, OpenReport
from tlsrpt_tui.ui.text import cell, clean
from tlsrpt_tui.ui.widgets.keys_footer import KeysFooter
from tlsrpt_tui.ui.widgets.row_table import RowTable

#: store.alerts.ListedAlert, as the service returns it (ui/ does not import the store)
ListedAlert = Any

#: Lines of the highlighted alert's text shown under the table.
DETAIL_LINES = 12

SEVERITY_STYLE = {"error": styles.FAILED, "warning": styles.WARNING, "info": styles.INFO}


def delivery_text(listed: ListedAlert) -> Text:
    """``mail#1 ✓ webhook#1 ✗3 HTTP 503`` — one mark per channel (✓ delivered, … waiting,
    ✗N failed N times so far, with the last error)."""
    out = Text(overflow="ellipsis", no_wrap=True)
    if not listed.deliveries:
        out.append("no channel", style="dim")
        return out
    for i, d in enumerate(listed.deliveries):
        if i:
            out.append(" ")
        name = clean(d.channel.split(" (", 1)[0])
        if d.state == "delivered":
            out.append(f"{name} ✓", style=styles.OK)
        elif d.attempts:
            out.append(f"{name} ✗{d.attempts} {clean(d.last_error or '')}",
                       style=styles.FAILED)
        else:
            out.append(f"{name} …", style=styles.WARNING)
    return out


class AlertsScreen(Screen):
    DEFAULT_CSS = """
    AlertsScreen > #alerts { height: 1fr; min-height: 5; }
    AlertsScreen > #alert-detail { height: auto; max-height: 50%; border-top: solid $primary;
                                   padding: 0 1; }
    """
    KEYMAP = "alerts"
    OPENED_BY = "alerts"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, service: ReportService, live: LiveState | None = None) -> None:
        super().__init__()
        self.service = service
        self.live = live
        self.listed: dict[str, ListedAlert] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("loading…", style="dim"), id="alerts-status")
        yield RowTable(id="alerts", cursor_type="row", zebra_stripes=True)
        yield Static(id="alert-detail")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = "Alerts"
        table = self.query_one("#alerts", DataTable)
        for name, width in (("Raised (UTC)", 16), ("Alert", 15), ("Level", 7),
                            ("Domain", 12), ("Delivery", 24), ("Summary", 30)):
            table.add_column(name, width=width, key=name)
        # a wide terminal shows longer domains, every channel and the whole summary
        table.grow = (("Domain", 12), ("Delivery", 24), ("Summary", 0))
        table.fit_columns()
        table.focus()
        self.refresh_data()
        if self.live is not None:  # the store changed (this app's sync, or watch)
            self.live.reports_changed.subscribe(self, lambda _version: self.refresh_data())

    def refresh_data(self) -> None:
        self.run_worker(self._load(), group="alerts-load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            rows = await self.service.recent_alerts()
        except Exception as exc:  # a store problem is a line on the screen, not a crash
            self.query_one("#alerts-status", Static).update(
                cell(f"alerts unavailable: {type(exc).__name__}: {exc}", styles.FAILED))
            return
        table = self.query_one("#alerts", DataTable)
        keep = table.cursor_row
        table.clear()
        self.listed = {}
        for listed in rows:
            a = listed.alert
            key = f"a{a.pk}"
            self.listed[key] = listed
            style = SEVERITY_STYLE.get(a.severity, "")
            summary, domain = cell(a.summary, style), cell(a.domain)
            summary.overflow = domain.overflow = "ellipsis"
            table.add_row(
                cell(a.raised_at[:16].replace("T", " ")), cell(a.code), cell(a.severity, style),
                domain, delivery_text(listed), summary, key=key,
            )
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))
        n = len(rows)
        note = f"{n} alert(s), newest first · Enter: the report or domain it is about"
        if n == 0:
            note = ("no alerts yet: 'tlsrpt-tui watch' raises them (failures in new reports, "
                    "DNS changes, silent senders)")
        self.query_one("#alerts-status", Static).update(Text(note, style="dim"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted alert in full: its mail subject, each channel's state, its text."""
        listed = self.listed.get(event.row_key.value or "") if event.row_key else None
        detail = self.query_one("#alert-detail", Static)
        if listed is None:
            detail.update("")
            return
        text = Text(clean(listed.alert.subject) + "\n", style="bold")
        for d in listed.deliveries:
            state = (f"delivered {d.delivered_at}" if d.state == "delivered" else
                     f"waiting, {d.attempts} failed attempt(s): {d.last_error}" if d.attempts
                     else "waiting")
            text.append(clean(f"{d.channel}: {state}") + "\n", style="dim")
        body = listed.alert.body.splitlines()[:DETAIL_LINES]
        text.append("\n".join(clean(line) for line in body))
        detail.update(text)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        listed = self.listed.get(event.row_key.value or "")
        if listed is None:
            return
        alert = listed.alert
        if alert.report_pk is not None:
            self.post_message(OpenReport(alert.report_pk))
        else:
            self.post_message(OpenDomain(alert.domain))

    def action_back(self) -> None:
        self.app.pop_screen()

