"""The Textual application: screens, key bindings, and the workers that keep it live.

Workers (async, one exclusive group per domain) call service/ and post typed messages; the
app routes them to widgets, which update in place. Periodic checks use a one-shot timer that is
re-armed only after a run finishes, so a slow check can never overlap the next one, and any
exception becomes a notification plus an error glyph instead of a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer

from tlsrpt_tui.service.config import Config, default_config_path
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui import styles
from tlsrpt_tui.ui.data import DataSource
from tlsrpt_tui.ui.messages import (
    CheckFailed,
    DomainChecked,
    ReportsIngested,
    SupervisedChanged,
    SyncFinished,
    SyncProgress,
)
from tlsrpt_tui.ui.text import clean

#: How often the app looks whether another process (``tlsrpt-tui watch``) changed the store.
STORE_POLL_SECONDS = 3.0

#: checker(domain) -> (status, previous status or None): runs and stores one live check.
Checker = Callable[[str], Awaitable[tuple[Any, Any | None]]]


class TlsrptApp(App[int]):
    """tlsrpt-tui: live DNS status, the TLS-RPT inbox and its drill-downs."""

    TITLE = "tlsrpt-tui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Leave tlsrpt-tui"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
        Binding("o", "overview", "Overview", tooltip="Report Overview table"),
        Binding("p", "policies", "Policies", tooltip="Policy Summary table"),
        Binding("r", "recheck", "Re-check", tooltip="Run the live DNS checks now"),
        Binding("s", "sync", "Sync", tooltip="Fetch new reports from IMAP now"),
        Binding("a", "alerts", "Alerts", tooltip="Alerts raised, newest first, and their delivery"),
    ]

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        demo: bool = False,
        clock: Callable[[], datetime] | None = None,
        checker: Checker | None = None,
        live: bool = True,
    ) -> None:
        super().__init__()
        styles.use(self.no_color)
        self.store = store
        self.config = config
        self.demo = demo
        self.clock = clock or (lambda: datetime.now(UTC))
        self.data = DataSource(store, config, self.clock)
        self.checker = checker
        #: live=False: no timers or workers start by themselves (snapshots, benchmarks).
        self.live = live and not demo
        self._check_timers: dict[str, Timer] = {}
        self._checking: set[str] = set()
        self._syncing = False
        from tlsrpt_tui.service.supervise import Supervisor

        #: The IMAP folder watchers run under it; its states feed the sync line.
        self.supervisor = Supervisor(on_change=self._worker_state)
        self._data_version = -1  # PRAGMA data_version last seen (see _poll_store)
        self._channel_failing_shown = False
        self.last_status: dict[str, Any] = {}
        self.export_dir = Path.cwd()
        if demo:
            self.sub_title = "demo data"

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the key bindings, by name, in the command palette (Ctrl+P)."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Report Overview", "the Overview table with its Total row (o)",
                            self.action_overview)
        yield SystemCommand("Policy Summary", "the Policy Summary table with its Total row (p)",
                            self.action_policies)
        yield SystemCommand("Re-check DNS now", "run the live checks of every domain (r)",
                            self.action_recheck)
        yield SystemCommand("Sync IMAP now", "fetch new reports from the accounts (s)",
                            self.action_sync)
        yield SystemCommand("Alerts", "alerts newest first with their delivery state (a)",
                            self.action_alerts)
        if getattr(screen, "export_source", None) is not None:
            yield SystemCommand("Export table", "write the current table to CSV or JSON (e)",
                                self.action_export)
        if hasattr(screen, "action_filter"):
            yield SystemCommand("Filter inbox", "filter the inbox by text (/)",
                                screen.action_filter)
        yield SystemCommand("Enforce readiness",
                            "can the chosen domain's MTA-STS go to enforce? what does it cost? (R)",
                            self.action_readiness)
        yield SystemCommand("Records to publish",
                            "TLS-RPT, MTA-STS and TLSA records for the chosen domain (D)",
                            self.action_records)
        yield SystemCommand("Help", "keys, screens and status glyphs (? or F1)", self.action_help)

    # -- start-up ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
        from tlsrpt_tui.ui.screens.first_run import FirstRunScreen

        if self.config.is_empty and not self.demo and self.data.is_empty():
            self.push_screen(FirstRunScreen(self.config.path or default_config_path()))
            return
        self.push_screen(DashboardScreen())
        self.call_after_refresh(self._load_stored_checks)
        for account in self.config.accounts:
            if account.security == "plain":  # allowed only when configured, never silently
                self.notify(
                    f"account {clean(account.name)}: security = plain: the password and the "
                    "reports travel unencrypted",
                    severity="warning",
                    markup=False,
                    timeout=30,
                )
        if self.live:
            for domain in self.config.domains:
                self.start_check(domain)
            self.start_watch()
            self._data_version = self._store_version()
            self.set_interval(STORE_POLL_SECONDS, self._poll_store)
            self.call_after_refresh(self._show_failing_channels)

    def _load_stored_checks(self) -> None:
        """Show the last stored result of each domain at once (the demo shows only these)."""
        try:
            stored = self.data.stored_checks()
        except Exception as exc:  # a store without check results must still open
            self.notify(f"stored check results unavailable: {clean(exc)}", severity="warning",
                        markup=False)
            return
        for domain, (status, previous, checked_at) in stored.items():
            self.post_message(
                DomainChecked(domain, status, previous, checked_at, notify_changes=False)
            )

    # -- live checks ---------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        return float(self.config.checks.interval or 3600.0)

    def start_check(self, domain: str) -> None:
        """Run a check of `domain` unless one is already running (checks never overlap)."""
        if domain in self._checking:
            return
        timer = self._check_timers.pop(domain, None)
        if timer is not None:
            timer.stop()
        self._checking.add(domain)
        card = self._card(domain)
        if card is not None:
            card.set_checking()
        self.run_worker(
            self._check(domain), group=f"check:{domain}", exclusive=True, exit_on_error=False
        )

    async def _check(self, domain: str) -> None:
        try:
            checker = self.checker or self.data.check_domain
            status, previous = await checker(domain)
        except Exception as exc:
            self.post_message(CheckFailed(domain, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(DomainChecked(domain, status, previous, self.clock()))

    def _rearm(self, domain: str) -> None:
        self._checking.discard(domain)
        if self.live:
            self._check_timers[domain] = self.set_timer(
                self.interval, lambda: self.start_check(domain)
            )

    def next_check_at(self, domain: str) -> datetime | None:
        if not self.live:
            return None
        return self.clock() + timedelta(seconds=self.interval)

    def _card(self, domain: str):  # type: ignore[no-untyped-def]
        from tlsrpt_tui.ui.widgets.status_panel import StatusPanel

        for screen in self.screen_stack:
            for panel in screen.query(StatusPanel):
                return panel.card(domain)
        return None

    def on_domain_checked(self, message: DomainChecked) -> None:
        self.last_status[message.domain] = message.status
        card = self._card(message.domain)
        self._rearm(message.domain)
        if card is None:
            return
        if self.demo:
            card.no_schedule_note = "stored (demo)"
        changed = card.set_status(
            message.status,
            message.previous,
            message.checked_at,
            self.next_check_at(message.domain),
        )
        if changed and message.notify_changes:
            names = ", ".join(clean(i.label) for i in changed)
            worst = max(changed, key=lambda i: i.severity.rank).severity
            self.notify(
                f"{clean(message.domain)}: changed since the last check: {names}",
                title="DNS status changed",
                severity="error" if worst.rank >= 3 else "warning" if worst.rank == 2 else
                "information",
                markup=False,
            )

    def on_check_failed(self, message: CheckFailed) -> None:
        self._rearm(message.domain)
        card = self._card(message.domain)
        if card is not None:
            card.set_error(message.error, self.next_check_at(message.domain))
        self.notify(
            f"{clean(message.domain)}: check failed: {clean(message.error)}",
            severity="error",
            markup=False,
        )

    def action_recheck(self) -> None:
        if self.demo:
            self.notify("demo mode: showing stored check results, no live lookups")
            self._load_stored_checks()
            return
        if not self.config.domains:
            self.notify("no domains configured; add domains = [...] to the config file")
            return
        for domain in self.config.domains:
            if domain in self._checking:
                self.notify(f"{domain}: a check is already running", markup=False)
            self.start_check(domain)

    # -- sync ----------------------------------------------------------------------------------

    def action_sync(self) -> None:
        if self.demo:
            self.notify("demo mode: no IMAP accounts to sync")
            return
        if not self.config.accounts:
            self.notify("no IMAP account configured; add an [[accounts]] table to the config")
            return
        if self._syncing:
            self.notify("a sync is already running")
            return
        self._syncing = True
        self.run_worker(self._sync_once(), group="sync", exclusive=True, exit_on_error=False)

    def start_watch(self) -> None:
        """Keep every configured folder in sync (IMAP IDLE) for as long as the app runs."""
        if self.config.accounts:
            self.run_worker(self._watch(), group="watch", exclusive=True, exit_on_error=False)

    def _sync_event(self, event: Any) -> None:
        """service.sync progress callback → messages (runs on the app's loop, inside a worker)."""
        folder = event.folder
        account = folder.account if folder is not None else ""
        if event.kind == "batch" and event.new_reports > 0:
            # The batch's own delta: every sync that stores something refreshes and says so.
            self.post_message(ReportsIngested(event.new_reports))
        if event.kind in ("progress", "batch") and folder is not None:
            total = folder.seen + folder.pending if folder.pending else None
            self.post_message(SyncProgress(account, folder.seen, total, folder.folder))
        elif event.kind == "error":
            self.post_message(SyncFinished(account, 0, event.message or "sync failed"))
        elif event.kind in ("idle", "done"):
            self.post_message(SyncFinished(account, 0, None, event.message))
        elif event.kind == "warning":
            self.notify(clean(event.message), severity="warning", markup=False)

    def _worker_state(self, state: Any) -> None:
        """A supervised worker started failing or recovered: the sync line says so."""
        self.post_message(SupervisedChanged(state))

    def on_supervised_changed(self, message: SupervisedChanged) -> None:
        state = message.state
        line = self._sync_line()
        if line is not None and state.failing:
            line.set_error(clean(state.line()))

    async def _sync_once(self) -> None:
        from tlsrpt_tui.service import sync

        try:
            summary = await sync.sync_all(
                self.store, self.config.accounts, on_progress=self._sync_event
            )
            line = summary.line()
            self.post_message(SyncFinished("all accounts", 0, "; ".join(summary.errors) or None,
                                           f"synced: {line}"))
        except Exception as exc:
            self.post_message(SyncFinished("sync", 0, f"{type(exc).__name__}: {exc}"))
        finally:
            self._syncing = False

    async def _watch(self) -> None:
        from tlsrpt_tui.service import sync

        try:
            await sync.watch(
                self.store, self.config.accounts, on_progress=self._sync_event,
                supervisor=self.supervisor,
            )
        except Exception as exc:
            self.post_message(SyncFinished("watch", 0, f"{type(exc).__name__}: {exc}"))

    def _sync_line(self):  # type: ignore[no-untyped-def]
        from tlsrpt_tui.ui.widgets.sync_line import SyncLine

        for screen in self.screen_stack:
            for line in screen.query(SyncLine):
                return line
        return None

    def on_sync_progress(self, message: SyncProgress) -> None:
        line = self._sync_line()
        if line is not None:
            line.set_progress(message.account, message.done, message.total, message.stage)

    def on_sync_finished(self, message: SyncFinished) -> None:
        line = self._sync_line()
        when = self.clock().astimezone(UTC).strftime("%H:%M UTC")
        if message.error:
            if line is not None:
                line.set_error(f"{when} {message.account}: {message.error}")
            self.notify(
                f"sync {clean(message.account)}: {clean(message.error)}", severity="error",
                markup=False,
            )
        elif line is not None:
            line.set_idle(f"{when} {message.note or 'synced ' + message.account}")

    def on_reports_ingested(self, message: ReportsIngested) -> None:
        from tlsrpt_tui.ui.screens.dashboard import DashboardScreen

        for screen in self.screen_stack:
            if isinstance(screen, DashboardScreen):
                try:
                    screen.refresh_data()
                except Exception as exc:  # a refresh problem must not take the app down
                    self.notify(f"could not refresh the inbox: {clean(exc)}", severity="error",
                                markup=False)
        if message.count:
            self.notify(f"{message.count} new report(s)", markup=False)

    # -- another process on the same store -----------------------------------------------------

    def _store_version(self) -> int:
        """SQLite's change counter: it moves when ANOTHER connection commits (watch, import)."""
        try:
            return int(self.store.conn.execute("PRAGMA data_version").fetchone()[0])
        except Exception:
            return -1

    def _poll_store(self) -> None:
        """What ``watch`` stored shows up here within a few seconds: the inbox and totals,
        the alerts screen, and a failing alert channel in the sync line."""
        version = self._store_version()
        if version == self._data_version:
            return
        self._data_version = version
        self.post_message(ReportsIngested(0))
        from tlsrpt_tui.ui.screens.alerts import AlertsScreen

        for screen in self.screen_stack:
            if isinstance(screen, AlertsScreen):
                screen.refresh_data()
        self._show_failing_channels()

    def _show_failing_channels(self) -> None:
        from tlsrpt_tui.service.alerts import failing_channels

        try:
            failing = failing_channels(self.store)
        except Exception:  # a store without the alert tables yet, a locked store: next time
            return
        line = self._sync_line()
        if line is None:
            return
        if failing:
            name, value = sorted(failing.items())[0]
            line.set_error(
                f"alerts: {name} failing since {str(value.get('since', ''))[:16]}: "
                f"{value.get('error', '')}"
            )
            self._channel_failing_shown = True
        elif self._channel_failing_shown:
            self._channel_failing_shown = False
            line.set_idle("alerts: every channel delivers again")

    # -- navigation ----------------------------------------------------------------------------

    def action_alerts(self) -> None:
        from tlsrpt_tui.ui.screens.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def open_domain(self, domain: str) -> None:
        """The Report Overview filtered to one domain (what a domain's alert is about)."""
        from textual.widgets import Input

        from tlsrpt_tui.ui.screens.tables import OverviewScreen

        screen = OverviewScreen()
        self.push_screen(screen)

        def apply() -> None:
            screen.query_one("#flt-domain", Input).value = domain
            screen.apply_filters()

        self.call_after_refresh(apply)

    def open_report(self, report_pk: int, policy_index: int | None = None) -> None:
        """The report's screen; with a policy index, that policy's failures over it (Escape
        goes back to the report, then to where the user came from)."""
        from tlsrpt_tui.ui.screens.policy import PolicyScreen
        from tlsrpt_tui.ui.screens.report import ReportScreen

        try:
            screen = ReportScreen(report_pk)
        except LookupError as exc:  # removed meanwhile (a reparse, another process)
            self.notify(clean(exc), severity="warning", markup=False)
            return
        self.push_screen(screen)
        if policy_index is not None and 0 <= policy_index < len(screen.report.policies):
            screen.select_policy = policy_index
            self.push_screen(PolicyScreen(screen.report, policy_index))

    def open_raw_input(self, input_pk: int) -> None:
        from tlsrpt_tui.ui.screens.raw import RawScreen

        self.push_screen(RawScreen.for_input(self.data, input_pk))

    def chosen_domain(self) -> str | None:
        """The domain whose card has the focus, else the first configured one."""
        from tlsrpt_tui.ui.widgets.status_panel import DomainCard

        focused = self.focused
        if isinstance(focused, DomainCard):
            return focused.domain
        return self.config.domains[0] if self.config.domains else None

    def open_readiness(self, domain: str | None = None) -> None:
        from tlsrpt_tui.ui.screens.readiness import ReadinessScreen

        self.push_screen(ReadinessScreen(domain))

    def open_records(self, domain: str) -> None:
        from tlsrpt_tui.ui.screens.records import RecordsScreen

        self.push_screen(RecordsScreen(domain))

    def action_readiness(self) -> None:
        self.open_readiness(self.chosen_domain())

    def action_records(self) -> None:
        domain = self.chosen_domain()
        if domain is None:
            self.notify("no domain configured; add domains = [...] to the config file")
            return
        self.open_records(domain)

    def action_help(self) -> None:
        from tlsrpt_tui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_overview(self) -> None:
        from tlsrpt_tui.ui.screens.tables import OverviewScreen

        if not isinstance(self.screen, OverviewScreen):
            self.push_screen(OverviewScreen())

    def action_policies(self) -> None:
        from tlsrpt_tui.ui.screens.tables import PolicySummaryScreen

        if not isinstance(self.screen, PolicySummaryScreen):
            self.push_screen(PolicySummaryScreen())

    def action_export(self) -> None:
        from tlsrpt_tui.ui.screens.export import ExportScreen

        source = getattr(self.screen, "export_source", None)
        if source is None:
            self.notify("nothing to export on this screen")
            return
        self.push_screen(ExportScreen(source(), self.export_dir))
