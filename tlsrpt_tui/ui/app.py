"""The Textual application: screens, key bindings, and the workers that keep it live.

Everything the app shows comes through one injected service (``ui.facade.ReportService``),
whose calls run store work off the event loop. Workers (async, one exclusive group per
domain) call it and post typed messages; the app turns those into its live state
(``ui.live.LiveState``), which the widgets follow, and routes the screens' ``Open*`` messages
to the screen they ask for. Periodic checks use a one-shot timer that is re-armed only after a
run finishes, so a slow check can never overlap the next one, and any exception becomes a
notification plus an error glyph instead of a crash.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.screen import Screen
from textual.timer import Timer

from tlsrpt_tui.service.config import Config, default_config_path
from tlsrpt_tui.service.supervise import Supervisor
from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.live import LiveState, SyncView, Throttle
from tlsrpt_tui.ui.messages import (
    CheckedElsewhere,
    CheckFailed,
    DomainChecked,
    OpenDomain,
    OpenFindings,
    OpenPolicy,
    OpenRawInput,
    OpenRawReport,
    OpenReadiness,
    OpenRecords,
    OpenReport,
    ReportsIngested,
    SupervisedChanged,
    SyncFinished,
    SyncProgress,
)
from tlsrpt_tui.ui.screens.alerts import AlertsScreen
from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
from tlsrpt_tui.ui.screens.export import ExportScreen
from tlsrpt_tui.ui.screens.finding import FindingScreen
from tlsrpt_tui.ui.screens.first_run import FirstRunScreen
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
from tlsrpt_tui.ui.text import clean
from tlsrpt_tui.ui.widgets.keys_footer import screen_scopes
from tlsrpt_tui.ui.widgets.status_panel import DomainCard, changed_items

#: How often the app looks whether another process (``tlsrpt-tui watch``) changed the store.
STORE_POLL_SECONDS = 3.0

#: At most one "N new report(s)" toast per this many seconds while a sync stores batches.
ANNOUNCE_SECONDS = 3.0

#: checker(domain) -> (status, previous status or None): runs and stores one live check.
Checker = Callable[[str], Awaitable[tuple[Any, Any | None]]]


class CheckError(Exception):
    """A live check that could not run (for the supervisor's state and log)."""


class TlsrptApp(App[int]):
    """tlsrpt-tui: live DNS status, the TLS-RPT inbox and its drill-downs."""

    TITLE = "tlsrpt-tui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    #: Below 100 columns the dashboard stacks its panes (app.tcss: Screen.-narrow).
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("app")  # type: ignore[assignment]

    def __init__(
        self,
        service: ReportService,
        config: Config,
        *,
        demo: bool = False,
        clock: Callable[[], datetime] | None = None,
        checker: Checker | None = None,
        live: bool = True,
    ) -> None:
        super().__init__()
        styles.use(self.no_color)
        self.service = service
        self.config = config
        self.demo = demo
        self.clock = clock or (lambda: datetime.now(UTC))
        self.state = LiveState(self)
        self.checker = checker
        #: live=False: no timers or workers start by themselves (snapshots, benchmarks).
        self.live = live and not demo
        self._check_timers: dict[str, Timer] = {}
        self._checking: set[str] = set()
        self._syncing = False
        #: The IMAP folder watchers run under it; its states feed the sync line.
        self.supervisor = Supervisor(on_change=self._worker_state)
        self._next_check: dict[str, datetime] = {}
        self._data_version = -1  # PRAGMA data_version last seen (see _poll_store)
        self._channel_failing_shown = False
        #: new reports stored since the last "N new report(s)" toast
        self._unannounced = 0
        self._announce = Throttle(self, ANNOUNCE_SECONDS, self._announce_new_reports)
        self.export_dir = Path.cwd()
        #: the tables' filter and order, shared so `o` / `p` keep them (ui.screens.tables)
        self.table_filter: Any = None
        if demo:
            self.sub_title = "demo data"

    @property
    def last_status(self) -> dict[str, Any]:
        """domain -> the latest check result shown (stored or live)."""
        return {d: v.status for d, v in self.state.checks.items() if v.status is not None}

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, and every action of the keymap this screen offers, by name
        (Ctrl+P): what the footer has no room for is one search away."""
        yield from super().get_system_commands(screen)
        for entry in keymap.palette_entries(screen_scopes(screen)):
            runner = self if "app" in entry.where else screen
            yield SystemCommand(entry.title, f"{entry.what} ({entry.display})",
                                partial(runner.run_action, entry.action or ""))

    # -- start-up ------------------------------------------------------------------------------

    async def on_mount(self) -> None:
        if self.config.is_empty and not self.demo and await self.service.is_empty():
            self.push_screen(FirstRunScreen(self.config.path or default_config_path()))
            return
        self.push_screen(
            DashboardScreen(self.service, self.state, tuple(self.config.domains), self.clock)
        )
        self.run_worker(self._load_stored_checks(), group="stored-checks", exit_on_error=False)
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
            self.run_worker(self._poll_store(first=True), group="store-poll",
                            exit_on_error=False)
            self.run_worker(self._follow_store(), group="watch-store", exit_on_error=False)

    async def _load_stored_checks(self) -> None:
        """Show the last stored result of each domain at once (the demo shows only these)."""
        try:
            stored = await self.service.stored_checks(tuple(self.config.domains))
        except Exception as exc:  # a store without check results must still open
            self.notify(f"stored check results unavailable: {clean(exc)}", severity="warning",
                        markup=False)
            return
        for domain, found in stored.items():
            shown = self.state.check(domain)
            if shown.status is not None and not self.demo and (
                shown.checked_at is None or shown.checked_at >= found.checked_at
            ):
                continue  # a live result came first, or this one is no newer
            # shown as is: a live check still running keeps its "checking…" and schedule
            self.state.update_check(domain, status=found.status, previous=found.previous,
                                    checked_at=found.checked_at,
                                    note="stored (demo)" if self.demo else "")

    # -- live checks ---------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        return float(self.config.checks.interval or 3600.0)

    def start_check(self, domain: str, *, timed: bool = True) -> None:
        """Run a check of `domain` unless one is already running (checks never overlap).

        ``timed`` (at start and on the interval): shared with the other workers on the store
        through the domain's check lease, and left to them when one checked it less than an
        interval ago; ``r`` asks for a check now (timed=False)."""
        if domain in self._checking:
            return
        timer = self._check_timers.pop(domain, None)
        if timer is not None:
            timer.stop()
        self._checking.add(domain)
        self.state.update_check(domain, checking=True)
        self.run_worker(
            self._check(domain, timed), group=f"check:{domain}", exclusive=True,
            exit_on_error=False
        )

    async def _check(self, domain: str, timed: bool = False) -> None:
        try:
            if self.checker is not None:
                status, previous = await self.checker(domain)
            elif timed:
                got = await self.service.timed_check(
                    domain, self.config.checks, self.interval,
                    self.config.workers.lease_seconds)
                if got.by_other is not None:
                    self.post_message(CheckedElsewhere(domain, got.status, got.previous,
                                                       got.checked_at, got.by_other,
                                                       got.due_in))
                    return
                status, previous = got.status, got.previous
            else:
                status, previous = await self.service.check_domain(domain, self.config.checks)
        except Exception as exc:
            self.post_message(CheckFailed(domain, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(DomainChecked(domain, status, previous, self.clock()))

    def on_checked_elsewhere(self, message: CheckedElsewhere) -> None:
        """Another worker has the domain: show its stored result, look again when due."""
        self._rearm(message.domain, max(1.0, message.due_in))
        changes: dict[str, Any] = {}
        if message.status is not None:
            changes = {"status": message.status, "previous": message.previous,
                       "checked_at": message.checked_at}
        self.state.update_check(message.domain, checking=False, error=None,
                                next_at=self.next_check_at(message.domain),
                                note=f"checked by {clean(message.by)}", **changes)

    def _rearm(self, domain: str, wait: float | None = None) -> None:
        """The next check: after the interval, or sooner after a failure (the supervisor's
        backoff, capped at the interval)."""
        self._checking.discard(domain)
        delay = self.interval if wait is None else min(wait, self.interval)
        self._next_check[domain] = self.clock() + timedelta(seconds=delay)
        if self.live:
            self._check_timers[domain] = self.set_timer(
                delay, lambda: self.start_check(domain)
            )

    def next_check_at(self, domain: str) -> datetime | None:
        if not self.live:
            return None
        return self._next_check.get(domain) or self.clock() + timedelta(seconds=self.interval)

    def on_domain_checked(self, message: DomainChecked) -> None:
        if message.domain in self._checking:  # a live check (not a stored result) succeeded
            self.supervisor.succeeded(f"check {message.domain}")
        self._rearm(message.domain)
        self.state.update_check(
            message.domain,
            status=message.status,
            previous=message.previous,
            checked_at=message.checked_at,
            next_at=self.next_check_at(message.domain),
            checking=message.domain in self._checking,
            error=None,
            note="stored (demo)" if self.demo else "",
        )
        changed = changed_items(message.status, message.previous)
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
        """A check that could not run is retried like any supervised worker (backoff from
        1 s, capped at the interval); the card says so, and a notification comes once per
        series of failures, not at every retry."""
        name = f"check {message.domain}"
        wait = self.supervisor.failed(name, CheckError(message.error))
        self._rearm(message.domain, wait)
        self.state.update_check(message.domain, checking=False, error=message.error,
                                next_at=self.next_check_at(message.domain))
        if self.supervisor.states[name].failures == 1:
            self.notify(
                f"{clean(message.domain)}: check failed: {clean(message.error)}",
                severity="error",
                markup=False,
            )

    def action_recheck(self) -> None:
        if self.demo:
            self.notify("demo mode: showing stored check results, no live lookups")
            self.run_worker(self._load_stored_checks(), group="stored-checks",
                            exit_on_error=False)
            return
        if not self.config.domains:
            self.notify("no domains configured; add domains = [...] to the config file")
            return
        for domain in self.config.domains:
            if domain in self._checking:
                self.notify(f"{domain}: a check is already running", markup=False)
            self.start_check(domain, timed=False)

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
        elif event.kind == "progress" and event.message:  # waiting for another worker
            self.state.set_sync(SyncView("progress", clean(event.message)))
        elif event.kind == "warning":
            self.notify(clean(event.message), severity="warning", markup=False)

    def _worker_state(self, state: Any) -> None:
        """A supervised worker started failing or recovered: the sync line says so."""
        self.post_message(SupervisedChanged(state))

    def on_supervised_changed(self, message: SupervisedChanged) -> None:
        state = message.state
        if state.failing and state.name.startswith("imap "):  # checks show on their cards
            self.state.set_sync(SyncView("error", state.line()))
        elif state.state == "standby" and state.name.startswith("imap "):
            # another worker (a `watch` elsewhere) has this folder's lease and syncs it
            self.state.set_sync(SyncView("idle", state.line()))

    async def _sync_once(self) -> None:
        try:
            summary = await self.service.sync_all(self.config.accounts, self._sync_event,
                                                  resolver=self.config.checks.resolver)
            line = summary.line()
            self.post_message(SyncFinished("all accounts", 0, "; ".join(summary.errors) or None,
                                           f"synced: {line}"))
        except Exception as exc:
            self.post_message(SyncFinished("sync", 0, f"{type(exc).__name__}: {exc}"))
        finally:
            self._syncing = False

    async def _watch(self) -> None:
        try:
            await self.service.watch(self.config.accounts, self._sync_event, self.supervisor,
                                     resolver=self.config.checks.resolver)
        except Exception as exc:
            self.post_message(SyncFinished("watch", 0, f"{type(exc).__name__}: {exc}"))

    def on_sync_progress(self, message: SyncProgress) -> None:
        text = f"syncing {message.account}"
        if message.stage:
            text += f": {message.stage}"
        text += f" {message.done}/{message.total}" if message.total else f" {message.done}"
        self.state.set_sync(SyncView("progress", text, message.done, message.total))

    def on_sync_finished(self, message: SyncFinished) -> None:
        when = self.clock().astimezone(UTC).strftime("%H:%M UTC")
        if message.error:
            self.state.set_sync(SyncView("error", f"{when} {message.account}: {message.error}"))
            self.notify(
                f"sync {clean(message.account)}: {clean(message.error)}", severity="error",
                markup=False,
            )
        else:
            self.state.set_sync(
                SyncView("idle", f"{when} {message.note or 'synced ' + message.account}")
            )

    def on_reports_ingested(self, message: ReportsIngested) -> None:
        self.state.reports_stored()  # the inbox and the charts re-read
        if message.count:
            # one toast for the batches of a few seconds, not one per batch
            self._unannounced += message.count
            self._announce()

    def _announce_new_reports(self) -> None:
        if self._unannounced:
            self.notify(f"{self._unannounced} new report(s)", markup=False)
            self._unannounced = 0

    # -- another process on the same store -----------------------------------------------------

    async def _follow_store(self) -> None:
        """Re-read what another program stored: as soon as the store announces a commit
        (PostgreSQL NOTIFY), else when its change counter moved, looked at every
        STORE_POLL_SECONDS (SQLite; PostgreSQL while the feed's connection is down)."""
        waited = 0.0
        while True:
            started = time.monotonic()
            try:
                changed = await self.service.wait_for_change(min(1.0, STORE_POLL_SECONDS))
            except Exception:  # no feed right now: the counter is polled; listen again soon
                changed = False
                await asyncio.sleep(1.0)
            waited += time.monotonic() - started
            if changed or waited >= STORE_POLL_SECONDS:
                waited = 0.0
                await self._poll_store(force=changed)

    async def _poll_store(self, first: bool = False, force: bool = False) -> None:
        """What ``watch`` stored shows up here within a few seconds: the inbox and totals,
        the alerts screen (they follow the live state), and a failing alert channel in the
        sync line."""
        try:
            version = await self.service.data_version()
        except Exception:  # a locked or vanished store: next time
            return
        if version == self._data_version and not force:
            return
        self._data_version = version
        if not first:
            self.state.reports_stored()
            await self._load_stored_checks()  # checked by a `watch` sharing the store
        await self._show_failing_channels()

    async def _show_failing_channels(self) -> None:
        try:
            failing = await self.service.failing_channels()
        except Exception:  # a store without the alert tables yet, a locked store: next time
            return
        if failing:
            name, value = sorted(failing.items())[0]
            self.state.set_sync(SyncView(
                "error", f"alerts: {name} failing since {str(value.get('since', ''))[:16]}: "
                f"{value.get('error', '')}"))
            self._channel_failing_shown = True
        elif self._channel_failing_shown:
            self._channel_failing_shown = False
            self.state.set_sync(SyncView("idle", "alerts: every channel delivers again"))

    # -- navigation ----------------------------------------------------------------------------

    def action_alerts(self) -> None:
        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen(self.service, self.state))

    def on_open_domain(self, message: OpenDomain) -> None:
        self.push_screen(OverviewScreen(self.service, domain=message.domain))

    def on_open_report(self, message: OpenReport) -> None:
        self.open_report(message.report_pk, message.policy_index, message.detail_index)

    def open_report(self, report_pk: int, policy_index: int | None = None,
                    detail_index: int | None = None) -> None:
        """The report's screen; with a policy index, that policy's failures over it (Escape
        goes back to the report, then to where the user came from). The report is read off
        the loop first."""
        self.run_worker(self._open_report(report_pk, policy_index, detail_index), group="open",
                        exclusive=True, exit_on_error=False)

    async def _open_report(self, report_pk: int, policy_index: int | None,
                           detail_index: int | None = None) -> None:
        try:
            detail = await self.service.report(report_pk)
        except Exception as exc:
            self.notify(f"could not read report {report_pk}: {clean(exc)}", severity="error",
                        markup=False)
            return
        if detail is None:  # removed meanwhile (a reparse, another process)
            self.notify(f"report {report_pk} is not in the store", severity="warning",
                        markup=False)
            return
        policies = detail.report.policies
        valid = policy_index is not None and 0 <= policy_index < len(policies)
        self.push_screen(ReportScreen(detail, select_policy=policy_index if valid else 0))
        if valid:
            self.push_screen(PolicyScreen(detail.report, policy_index or 0, self.state,
                                          select_detail=detail_index or 0))

    def on_open_policy(self, message: OpenPolicy) -> None:
        self.push_screen(PolicyScreen(message.report, message.index, self.state))

    def on_open_raw_report(self, message: OpenRawReport) -> None:
        self.run_worker(self._open_raw_report(message.report, message.input_pk), group="open",
                        exclusive=True, exit_on_error=False)

    async def _open_raw_report(self, report: Any, input_pk: int) -> None:
        try:
            raw = await self.service.raw_input(input_pk)
            # finding the JSON again parses the stored mail: not on the loop
            screen = await asyncio.to_thread(RawScreen.for_report, report,
                                             raw.payload if raw is not None else None)
        except Exception as exc:
            self.notify(f"could not read input {input_pk}: {clean(exc)}", severity="error",
                        markup=False)
            return
        self.push_screen(screen)

    def on_open_raw_input(self, message: OpenRawInput) -> None:
        self.run_worker(self._open_raw_input(message.input_pk), group="open", exclusive=True,
                        exit_on_error=False)

    async def _open_raw_input(self, input_pk: int) -> None:
        try:
            raw = await self.service.raw_input(input_pk)
        except Exception as exc:
            self.notify(f"could not read input {input_pk}: {clean(exc)}", severity="error",
                        markup=False)
            return
        if raw is None:
            self.push_screen(RawScreen("Raw", f"input {input_pk} is not in the store"))
        else:
            self.push_screen(RawScreen.for_input(raw.source, raw.error, raw.payload))

    def chosen_domain(self) -> str | None:
        """The domain whose card has the focus, else the first configured one."""
        focused = self.focused
        if isinstance(focused, DomainCard):
            return focused.domain
        return self.config.domains[0] if self.config.domains else None

    def on_open_readiness(self, message: OpenReadiness) -> None:
        self.open_readiness(message.domain)

    def on_open_findings(self, message: OpenFindings) -> None:
        self.push_screen(FindingScreen(message.card))

    def on_open_records(self, message: OpenRecords) -> None:
        self.open_records(message.domain)

    def open_readiness(self, domain: str | None = None) -> None:
        self.push_screen(ReadinessScreen(self.service, domain, tuple(self.config.domains),
                                         self.clock, live=self.state))

    def open_records(self, domain: str) -> None:
        self.push_screen(RecordsScreen(self.service, domain, self.config.checks, self.clock,
                                       live=not self.demo))

    def action_readiness(self) -> None:
        self.open_readiness(self.chosen_domain())

    def action_records(self) -> None:
        domain = self.chosen_domain()
        if domain is None:
            self.notify("no domain configured; add domains = [...] to the config file")
            return
        self.open_records(domain)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def _open_table(self, screen_type: type[TableScreen]) -> None:
        """A table screen; from another table it replaces that one (o p o p: one Escape back)."""
        if isinstance(self.screen, screen_type):
            return
        if isinstance(self.screen, TableScreen):
            self.switch_screen(screen_type(self.service))
        else:
            self.push_screen(screen_type(self.service))

    def action_overview(self) -> None:
        self._open_table(OverviewScreen)

    def action_policies(self) -> None:
        self._open_table(PolicySummaryScreen)

    def action_failures(self) -> None:
        self._open_table(FailuresScreen)

    def action_export(self) -> None:
        source = getattr(self.screen, "export_source", None)
        if source is None:
            self.notify("nothing to export on this screen")
            return
        self.push_screen(ExportScreen(source(), self.export_dir))
