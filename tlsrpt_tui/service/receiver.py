"""Receiving reports by HTTPS POST (RFC 8460 §3 ``rua=https:…``): ``tlsrpt-tui receive``.

A body that passed the HTTP checks (net/http_receiver.py) becomes a :class:`RawInput` named
``https:<client address>`` and goes through the same parser, limits and raw-first store as
``import``: the bytes are stored before anything derived from them, a body that cannot be read
stays stored as rejected with its reason, and the same report sent twice is one report.

Why a writer thread: SQLite and the parser must not run on the event loop (the loop keeps
accepting and reading other uploads meanwhile). One thread owns the receiver's store connection
and commits whatever uploads are waiting together (group commit): one fsync-free WAL commit per
batch instead of per upload is what lets a 2-core box store hundreds of reports a second.
Nothing is half-stored: an upload is stored only once its whole body arrived, in one
transaction, so a client or server killed mid-upload leaves no trace.

``serve`` runs the receiver until cancelled, so ``watch`` can start it as one more task
(``[receiver] listen = "…"`` in the config).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.core.parse import DEFAULT_LIMITS, Limits
from tlsrpt_tui.net.http_receiver import (
    HttpLimits,
    Listening,
    ReceiverApp,
    Reply,
    Upload,
    parse_networks,
    start_server,
)
from tlsrpt_tui.service.config import ReceiverSettings
from tlsrpt_tui.service.ingest import IngestOutcome, OutcomeKind, ingest_batch, prepare
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.store.location import StoreLocation

log = logging.getLogger(__name__)

#: Uploads committed in one transaction at most.
WRITE_BATCH = 200


class ReceiverError(Exception):
    """The receiver cannot start (bad address, certificate, port in use): one line why."""


def parse_listen(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` → (host, port); ValueError names the problem."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port_s = rest.removeprefix(":")
    else:
        host, _, port_s = spec.rpartition(":")
    if not host or not port_s:
        raise ValueError(f"listen address {spec!r}: write HOST:PORT, e.g. 127.0.0.1:8443")
    try:
        port = int(port_s)
    except ValueError:
        raise ValueError(f"listen address {spec!r}: port is not a number") from None
    if not 0 <= port < 65536:
        raise ValueError(f"listen address {spec!r}: port out of range")
    return host, port


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server context from PEM files; None without a certificate (plain HTTP behind a proxy)."""
    if cert is None and key is None:
        return None
    if cert is None:
        raise ReceiverError("--tls-key needs --tls-cert")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ReceiverError(f"{cert}: cannot load the TLS certificate/key: {exc}") from None
    return ctx


# --------------------------------------------------------------------------------------------
# The writer


@dataclass(slots=True)
class _Job:
    raw: RawInput
    future: asyncio.Future[IngestOutcome]
    loop: asyncio.AbstractEventLoop


class IngestWriter:
    """One thread that owns a store connection and ingests queued inputs in batches."""

    def __init__(self, db_path: StoreLocation | Path | str,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.db_path = db_path
        self.limits = limits
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.batches = 0
        self.stored = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="receiver-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise ReceiverError(f"cannot open the store: {self._error}")

    async def ingest(self, raw: RawInput) -> IngestOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestOutcome] = loop.create_future()
        self._queue.put(_Job(raw, future, loop))
        return await future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        try:
            store = Store(self.db_path)
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        with store:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                jobs = [first]
                stop = False
                while len(jobs) < WRITE_BATCH:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stop = True
                        break
                    jobs.append(job)
                self._write(store, jobs)
                if stop:
                    return

    def _write(self, store: Store, jobs: list[_Job]) -> None:
        """Parse, then store the batch in one transaction; every job gets an outcome or error."""
        raws = [job.raw for job in jobs]
        try:
            prepared = [prepare(raw, self.limits) for raw in raws]  # outside the write lock
            with store.transaction():
                outcomes = ingest_batch(store, raws, self.limits, prepared)
        except Exception as exc:  # the store is unusable (disk full, locked): tell each client
            log.error("receiver: storing %d upload(s) failed: %s", len(jobs), exc)
            for job in jobs:
                _resolve(job, exc=exc)
            return
        self.batches += 1
        self.stored += len(jobs)
        for job, outcome in zip(jobs, outcomes, strict=True):
            _resolve(job, outcome=outcome)


def _resolve(job: _Job, *, outcome: IngestOutcome | None = None,
             exc: BaseException | None = None) -> None:
    def done() -> None:
        if job.future.done():
            return
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(outcome)  # type: ignore[arg-type]

    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
        job.loop.call_soon_threadsafe(done)


# --------------------------------------------------------------------------------------------
# From upload to reply


def reply_for(outcome: IngestOutcome) -> Reply:
    """201 stored, 200 duplicate, 400 with the one-line reason otherwise."""
    if outcome.kind is OutcomeKind.NEW:
        n = outcome.new_reports
        return Reply(201, f"stored {n} report{'s' if n != 1 else ''}")
    if outcome.kind is OutcomeKind.DUPLICATE:
        return Reply(200, "duplicate: this report is already stored")
    return Reply(400, outcome.error or "not a TLS-RPT report")


@dataclass
class ReceiverEvent:
    """One handled request, for the log: who, the status and the line they were told."""

    client: str
    status: int
    text: str

    def line(self) -> str:
        """One printable line (the reason may quote what a client sent)."""
        text = f"receiver: {self.client}: {self.status} {self.text}"
        return "".join(c if c.isprintable() else "?" for c in text)


@dataclass
class Receiver:
    """The receiver's parts: the writer thread and the HTTP server, started and stopped together."""

    db_path: StoreLocation | Path | str
    settings: ReceiverSettings
    limits: Limits = DEFAULT_LIMITS
    on_event: Callable[[ReceiverEvent], None] | None = None
    writer: IngestWriter | None = field(default=None, init=False)
    listening: Listening | None = field(default=None, init=False)

    async def start(self) -> Listening:
        if not self.settings.listen:
            raise ReceiverError("no listen address ([receiver] listen or --listen)")
        try:
            host, port = parse_listen(self.settings.listen)
            proxies = parse_networks(self.settings.trusted_proxies)
        except ValueError as exc:
            raise ReceiverError(str(exc)) from None
        ssl_context = tls_context(self.settings.tls_cert, self.settings.tls_key)
        path = self.settings.path if self.settings.path.startswith("/") else (
            "/" + self.settings.path
        )
        http_limits = HttpLimits(
            max_body_bytes=min(self.settings.max_body_bytes, self.limits.max_message_bytes),
            max_inflated_bytes=self.limits.max_report_bytes,
            rate_per_minute=self.settings.rate_limit,
        )
        self.writer = IngestWriter(self.db_path, self.limits)
        await asyncio.to_thread(self.writer.start)
        app = ReceiverApp(
            self.accept, path=path, limits=http_limits, trusted_proxies=proxies,
            on_reply=self._replied,
        )
        try:
            self.listening = await start_server(app, host, port, ssl_context)
        except OSError as exc:
            self.writer.close()
            raise ReceiverError(f"cannot listen on {self.settings.listen}: {exc}") from None
        return self.listening

    async def accept(self, upload: Upload) -> Reply:
        assert self.writer is not None
        raw = RawInput(
            source=f"https:{upload.client}",
            data=upload.data,
            origin=Origin(kind="https", path=upload.client),
        )
        try:
            outcome = await self.writer.ingest(raw)
        except Exception:
            return Reply(503, "the store is unavailable; retry later", 60)
        return reply_for(outcome)

    def _replied(self, client: str, reply: Reply) -> None:
        if self.on_event is not None:
            self.on_event(ReceiverEvent(client, reply.status, reply.text))

    async def stop(self) -> None:
        if self.listening is not None:
            await self.listening.close()
            self.listening = None
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
            self.writer = None


async def serve(
    db_path: StoreLocation | Path | str,
    settings: ReceiverSettings,
    *,
    limits: Limits = DEFAULT_LIMITS,
    on_event: Callable[[ReceiverEvent], None] | None = None,
    on_listening: Callable[[Listening], None] | None = None,
) -> None:
    """Run the receiver until cancelled (``receive``, or one task of ``watch``).

    Raises :class:`ReceiverError` when it cannot start; once listening it never exits on a bad
    request or a store error (those become 4xx/5xx replies and log lines).
    """
    receiver = Receiver(db_path, settings, limits, on_event)
    listening = await receiver.start()
    try:
        if on_listening is not None:
            on_listening(listening)
        await asyncio.Event().wait()
    finally:
        await receiver.stop()
