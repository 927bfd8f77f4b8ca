"""``tlsrpt-tui watch``: the monitor without a screen (spec: ../shared/spec/alerts.md).

Every long-lived part runs under one ``Supervisor`` (service/supervise.py): one IDLE watcher per
IMAP folder, one check loop per domain, one delivery loop per alert channel, the timer that
looks for silent senders and failing workers, and the HTTPS receiver when configured. Any
exception in any of them is logged and retried with backoff; only cancellation (SIGTERM/SIGINT,
handled by the command) ends the service. Alerts are raised into the store by
service/alerts.py and sent by service/deliver.py.

Several ``watch`` processes (on one host or many) may share one store; each piece of work is
done by the one that holds its lease (service/leasing.py): a folder by its watcher, a domain's
check by whichever worker finds it due first (due: its last stored check is ``interval`` old,
whoever made it), an alert channel's queue by one deliverer. The others stand by, so N workers
share the domains and a dead worker's work is taken over within one interval.

The store connection ``watch`` opened is used from one thread only (service/store_thread.py):
every check stored, alert considered and delivery recorded is handed to it and awaited, so
the loop that runs the IMAP connections, checks and the receiver never waits for the disk or
the database server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tlsrpt_tui.core.alerts import Alert
from tlsrpt_tui.core.findings import DomainStatus
from tlsrpt_tui.service import sync
from tlsrpt_tui.service.alerts import Alerter
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.service.deliver import Deliverer, sender_for
from tlsrpt_tui.service.leasing import Leaser, standby_poll
from tlsrpt_tui.service.store_thread import StoreThread, logged
from tlsrpt_tui.service.supervise import Handle, Supervisor, WorkerState
from tlsrpt_tui.service.sync import Fence
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store.database import Store

log = logging.getLogger("tlsrpt_tui.watch")

#: How often gaps, failing accounts and failing channels are looked at.
TICK_SECONDS = 30.0
#: Domains checked at once: each domain has its own loop, but 50 first checks at start would
#: all run together (and the process's memory peak stays for its lifetime).
CHECKS_AT_ONCE = 4


@dataclass
class Monitor:
    """The service's parts, shared by ``run`` (forever) and ``run_once`` (``--once``)."""

    config: Config
    store: Store
    tick: float = TICK_SECONDS
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    supervisor: Supervisor = field(default_factory=Supervisor)
    deliverers: list[Deliverer] = field(default_factory=list)
    last_checks: dict[str, DomainStatus] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_slots: asyncio.Semaphore | None = None
        #: the only user of ``store`` (its connection) from here on
        self.db = StoreThread(self.store)
        self._loop: asyncio.AbstractEventLoop | None = None
        from tlsrpt_tui.service.dkim import checker_for

        #: DKIM of arriving mail, through [checks] resolver; one key cache for every folder.
        self.dkim = checker_for(self.config.checks.resolver)
        if self.dkim is None and self.config.accounts:
            log.warning("no DNS resolver: DKIM signatures of report mail are not verified")
        self.leaser = Leaser(self.store, ttl=self.config.workers.lease_seconds)
        self.alerter = Alerter(
            self.store, self.config.alerts, clock=self.clock, on_raised=self._raised
        )
        self.deliverers = [
            Deliverer(self.store, channel.name, sender_for(channel), leaser=self.leaser,
                      db=self.db)
            for channel in self.config.alerts.channels
        ]

    def _raised(self, alert: object) -> None:
        """Wake the deliverers (called on the store's thread too)."""
        for deliverer in self.deliverers:
            if self._loop is None:
                deliverer.wake.set()
            else:
                self._loop.call_soon_threadsafe(deliverer.wake.set)

    # -- sync events -> alerts -------------------------------------------------------------------

    def in_commit(self, store: Store, input_pks: list[int]) -> list[Alert]:
        """Inside an IMAP batch's transaction, on the sync's writer thread and connection
        (sync.CommitHook): the alerts of the batch's reports, committed with them."""
        return replace(self.alerter, store=store, on_raised=None).raise_for_inputs(input_pks)

    def on_sync(self, event: sync.SyncEvent) -> None:
        """Log the event; after a committed batch announce the alerts its commit raised (and
        consider what is still pending, should that have failed); after a pass, the folder's
        first-sync backlog. The store work is queued on the store's thread (in order, so
        ``--once``'s housekeeping and deliveries queued after it find it done)."""
        fs = event.folder
        if event.kind == "batch" and fs is not None:
            if event.new_reports:
                log.info("%s/%s: %d new report(s)", fs.account, fs.folder, event.new_reports)
                self.alerter.announce(a for a in event.raised if isinstance(a, Alert))
                logged(self.db.submit(self.alerter.scan_reports), log, "alerts of new reports")
        elif event.kind in ("idle", "done") and fs is not None:
            logged(self.db.submit(self.alerter.folder_synced, fs.account, fs.folder), log,
                   f"{fs.account}/{fs.folder}: first-sync backlog")
        elif event.kind in ("error", "warning"):
            pass  # the supervisor and sync log these once, with the retry delay
        elif event.kind == "reconnect" and event.message:
            log.info("%s", event.message)

    # -- checks ------------------------------------------------------------------------------------

    def _slot(self, held: bool = False) -> contextlib.AbstractAsyncContextManager[object]:
        """One of CHECKS_AT_ONCE check slots (``held``: the caller already has one)."""
        if held:
            return contextlib.nullcontext()
        if self._check_slots is None:
            self._check_slots = asyncio.Semaphore(CHECKS_AT_ONCE)
        return self._check_slots

    async def check(self, domain: str, fence: Fence | None = None, *,
                    in_slot: bool = False) -> DomainStatus:
        """Check now and store the result (refused by ``fence`` when the lease was lost);
        ``in_slot``: the caller holds a check slot already."""
        from tlsrpt_tui.service.checks import CheckOptions, check_domains

        options = CheckOptions.from_settings(self.config.checks)
        # The store is used from its thread only: a transaction anywhere else would
        # interleave with the alert engine's on the same connection.
        async with self._slot(held=in_slot):
            previous = await self.db.run(check_store.latest, self.store, domain)
            [status] = await check_domains([domain], options, previous={domain: previous}
                                           if previous else None)
        await self.db.run(self._store_check, status, fence)
        self.last_checks[domain] = status
        return status

    def _store_check(self, status: DomainStatus, fence: Fence | None) -> None:
        """On the store's thread: the result and its alerts, logged as soon as committed."""
        self.alerter.store_check(status, fence=fence)
        log.info("check %s: %s", status.domain, status.status)

    @property
    def interval(self) -> float:
        return float(self.config.checks.interval or 3600.0)

    async def due_in(self, domain: str) -> float:
        """Seconds until ``domain`` is due: its last stored check (by any worker) plus the
        interval; 0 when never checked."""
        return await self.db.run(check_store.due_in, self.store, domain, self.interval,
                                 self.clock())

    async def check_if_due(self, domain: str) -> str | None:
        """Check ``domain`` under its lease if it is due; None when checked, else why not.

        The lease is taken once a check slot is free, so a worker never sits on domains it
        cannot check yet while other workers could."""
        async with self._slot():
            ok, lease = await self.leaser.acquire(f"check:{domain}", "check")
            if not ok:
                return f"being checked by {lease.who}"
            async with self.leaser.hold(lease) as held:
                # Due is read again under the lease: another worker may have just stored one.
                if await self.due_in(domain) > 0:
                    return "checked by another worker"
                await self.check(domain, fence=held.fence, in_slot=True)
        return None

    def _check_loop(self, domain: str):  # type: ignore[no-untyped-def]
        async def body(handle: Handle) -> None:
            while True:
                wait = await self.due_in(domain)
                if wait > 0:
                    await asyncio.sleep(min(wait, self.interval))
                    continue
                if await self.check_if_due(domain) is not None:
                    # Another worker has it now: look again once its result is stored.
                    await asyncio.sleep(standby_poll(self.leaser.ttl))
                handle.ok()

        return body

    # -- the timer ------------------------------------------------------------------------------

    async def housekeeping(self) -> None:
        # the workers' states as they are now (the loop goes on changing them)
        states = {name: replace(state) for name, state in self.supervisor.states.items()}
        await self.db.run(self._housekeeping, states)

    def _housekeeping(self, states: dict[str, WorkerState]) -> None:
        """On the store's thread."""
        self.alerter.scan_reports()  # reports stored by another process (TUI, receiver, import)
        self.alerter.scan_gaps()
        self.alerter.workers(states)
        self.alerter.channels_failing()

    async def _tick_loop(self, handle: Handle) -> None:
        while True:
            await self.housekeeping()
            handle.ok()
            await asyncio.sleep(self.tick)

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled. Cancelling stops every worker (each cleans up) and returns."""
        sup = self.supervisor
        watch: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        try:
            for deliverer in self.deliverers:
                sup.spawn(f"alerts {deliverer.channel}", deliverer.run)
            sup.spawn("alerts timer", self._tick_loop)
            for domain in self.config.domains:
                sup.spawn(f"check {domain}", self._check_loop(domain))
            if self.config.receiver.listen:
                sup.spawn("receiver", self._receiver)
            if self.config.accounts:
                watch = asyncio.create_task(
                    sync.watch(self.store, self.config.accounts, on_progress=self.on_sync,
                               supervisor=sup, dkim=self.dkim, leaser=self.leaser,
                               in_commit=self.in_commit)
                )
            await asyncio.Event().wait()
        finally:
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
            await sup.stop()
            await self.leaser.aclose()
            await self.db.aclose()

    async def _receiver(self, handle: Handle) -> None:
        from tlsrpt_tui.service.receiver import serve

        def listening(server) -> None:  # type: ignore[no-untyped-def]
            handle.ok()
            for url in server.urls:
                log.info("receiver listening on %s%s", url, self.config.receiver.path)

        await serve(self.store.path, self.config.receiver, on_listening=listening,
                    on_event=lambda event: log.info("%s", event.line()))

    async def run_once(self) -> int:
        """``--once``: every check, one sync of every folder, every alert due; returns the
        number of problems (failed checks, accounts, undelivered channels)."""
        self._loop = asyncio.get_running_loop()
        try:
            return await self._run_once()
        finally:
            await self.leaser.aclose()
            await self.db.aclose()

    async def _run_once(self) -> int:
        problems = 0
        for domain in self.config.domains:
            try:
                ok, lease = await self.leaser.acquire(f"check:{domain}", "check")
                if not ok:
                    log.info("check %s: being checked by %s", domain, lease.who)
                    continue
                async with self.leaser.hold(lease) as held:
                    await self.check(domain, fence=held.fence)
            except Exception as exc:
                problems += 1
                log.error("check %s: %s: %s", domain, type(exc).__name__, exc)
        if self.config.accounts:
            summary = await sync.sync_all(self.store, self.config.accounts,
                                          on_progress=self.on_sync, dkim=self.dkim,
                                          leaser=self.leaser, in_commit=self.in_commit)
            for error in summary.errors:
                problems += 1
                log.error("%s", error)
        await self.housekeeping()
        for deliverer in self.deliverers:
            if await deliverer.drain() is None:
                continue  # another worker delivers this channel
            if await self.db.run(_pending, self.store, deliverer.channel):
                problems += 1
        return problems


def _pending(store: Store, channel: str) -> bool:
    """Alerts still owed to ``channel``."""
    return store.conn.execute(
        "SELECT 1 FROM alert_deliveries WHERE channel = ? AND state = 'pending' LIMIT 1",
        (channel,)).fetchone() is not None
