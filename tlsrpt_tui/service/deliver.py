"""Delivering stored alerts, channel by channel: at least once, in order, never lost.

Each channel works through ITS pending deliveries oldest first. An alert is marked delivered in
a short transaction right after the server accepted it; a kill -9 between the two re-sends that
one alert once after a restart (same Message-ID / ``key``, so a receiver can drop it), and a
delivered alert is never sent again. A failing channel keeps its alerts waiting in the store and
retries the oldest with backoff (30 s doubling to 15 minutes) for as long as the service runs;
while it fails, its state ("failing since T: reason") is in the store, for the TUI, the log and
the ``alert.delivery`` alert.

Several workers on one store: a channel's queue is delivered by the ONE worker that holds its
lease (``deliver:CHANNEL``, service/leasing.py), so each alert goes out once and in order; the
others stand by and take the channel over when that worker stops or dies (its last alert may
then be re-sent once, as after a kill -9 of a single worker). The lease is renewed before each
send, and lives longer than a send may take, so it cannot expire in the middle of one.

The store work (the next pending alert, its outcome) runs on the store's thread
(service/store_thread.py), never on the loop that sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from tlsrpt_tui.core.alerts import Alert
from tlsrpt_tui.service import secrets
from tlsrpt_tui.service.config import MailChannel, WebhookChannel
from tlsrpt_tui.service.leasing import Leaser, standby_poll
from tlsrpt_tui.service.store_thread import StoreThread
from tlsrpt_tui.service.supervise import Handle
from tlsrpt_tui.store import alerts as db
from tlsrpt_tui.store.database import Store

log = logging.getLogger(__name__)

RETRY_FIRST = 30.0
RETRY_MAX = 900.0

Sender = Callable[[Alert], Awaitable[None]]


def sender_for(channel: MailChannel | WebhookChannel) -> Sender:
    """The send function of a configured channel (the secret is read at each send)."""
    from tlsrpt_tui.net import alert_send

    if isinstance(channel, MailChannel):

        async def send_mail(alert: Alert) -> None:
            password = None
            if channel.username:
                password = await asyncio.to_thread(secrets.get_password, channel)
            await alert_send.send_mail(channel, alert, password)

        return send_mail

    async def post(alert: Alert) -> None:
        await alert_send.post_webhook(channel, alert)

    return post


def channel_failure(store: Store, channel: str) -> dict | None:
    """The stored failing state of a channel (``since``, ``error``), None while it delivers."""
    return db.get_state(store, f"channel:{channel}")


class Deliverer:
    """One channel's delivery loop (run under the supervisor)."""

    def __init__(
        self,
        store: Store,
        channel: str,
        send: Sender,
        *,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        poll: float = 5.0,
        leaser: Leaser | None = None,
        db: StoreThread | None = None,
    ) -> None:
        """``db``: the thread that owns ``store`` (the service's; else one of its own)."""
        self.store = store
        self.db = db or StoreThread(store)
        #: None: this is the only worker (no lease taken)
        self.leaser = leaser
        self.channel = channel
        self.send = send
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.poll = poll
        self.wake = asyncio.Event()
        self.delivered = 0
        self._delay = retry_first

    @property
    def lease_name(self) -> str:
        return f"deliver:{self.channel}"

    async def _take(self) -> str | None:
        """Take (or renew) the channel's lease: None when this worker has it, else who has."""
        if self.leaser is None:
            return None
        ok, lease = await self.leaser.acquire(self.lease_name, "deliver")
        return None if ok else lease.who

    async def run(self, handle: Handle) -> None:
        try:
            await self._run(handle)
        finally:
            if self.leaser is not None:
                with contextlib.suppress(Exception):
                    await self.leaser.release(self.lease_name)

    async def _run(self, handle: Handle) -> None:
        while True:
            other = await self._take()
            if other is not None:
                handle.standby(f"delivered by {other}")
                await asyncio.sleep(standby_poll(self.leaser.ttl if self.leaser else 5.0))
                continue
            if not await self.deliver_one():
                self.wake.clear()
                handle.ok()
                # Woken by a new alert, else poll (another process may raise alerts).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll)

    async def deliver_one(self) -> bool:
        """Send the oldest pending alert; False when nothing is pending. On failure: record,
        wait the backoff, return True (the same alert is tried again)."""
        alert = await self.db.run(db.next_pending, self.store, self.channel)
        if alert is None or alert.pk is None:
            return False
        error = await self._attempt(alert)
        if error is not None:
            wait = self._delay
            self._delay = min(self.retry_max, self._delay * 2)
            log.warning("%s: alert %s not delivered: %s; retrying in %.0fs",
                        self.channel, alert.key, error, wait)
            await asyncio.sleep(wait)
            return True
        self._delay = self.retry_first
        return True

    async def _attempt(self, alert: Alert) -> str | None:
        """Send one alert and record the outcome; the error line, or None when delivered."""
        assert alert.pk is not None
        try:
            await self.send(alert)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = str(exc) if isinstance(exc, _send_errors()) else type(exc).__name__
            await self.db.run(self._failed, alert.pk, error)
            return error
        await self.db.run(self._delivered, alert)
        self.delivered += 1
        return None

    def _delivered(self, alert: Alert) -> None:
        """Record the delivery and log it as soon as committed (on the store's thread)."""
        assert alert.pk is not None
        with self.store.transaction():
            db.mark_delivered(self.store, alert.pk, self.channel,
                              by=self.leaser.holder if self.leaser else None)
            was_failing = db.get_state(self.store, f"channel:{self.channel}")
            if was_failing is not None:
                db.delete_state(self.store, f"channel:{self.channel}")
        if was_failing is not None:
            log.info("%s: delivers again (failing since %s)", self.channel, was_failing["since"])
        log.info("%s: delivered %s", self.channel, alert.log_line())

    def _failed(self, alert_pk: int, error: str) -> None:
        """Record the failure and the channel's failing state (on the store's thread)."""
        with self.store.transaction():
            db.mark_failed(self.store, alert_pk, self.channel, error)
            name = f"channel:{self.channel}"
            state = db.get_state(self.store, name)
            now = datetime.now(UTC).replace(microsecond=0).isoformat()
            db.set_state(self.store, name, {**(state or {"since": now}), "error": error})

    async def drain(self) -> int | None:
        """``--once``: send what is pending; stop at the first failure. Returns how many, or
        None when another worker delivers this channel."""
        other = await self._take()
        if other is not None:
            log.info("%s: delivered by %s", self.channel, other)
            return None
        try:
            return await self._drain()
        finally:
            if self.leaser is not None:
                await self.leaser.release(self.lease_name)

    async def _drain(self) -> int:
        sent = 0
        while True:
            if sent and await self._take() is not None:
                return sent
            alert = await self.db.run(db.next_pending, self.store, self.channel)
            if alert is None or alert.pk is None:
                return sent
            error = await self._attempt(alert)
            if error is not None:
                log.warning("%s: alert %s not delivered: %s", self.channel, alert.key, error)
                return sent
            sent += 1


def _send_errors() -> tuple[type[Exception], ...]:
    from tlsrpt_tui.net.alert_send import SendError

    return (SendError, secrets.SecretError)
