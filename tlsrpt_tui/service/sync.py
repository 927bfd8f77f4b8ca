"""The report inbox: sync IMAP folders into the store, once or continuously (IDLE).

How nothing is lost or repeated: per folder the store keeps (UIDVALIDITY, last committed UID).
A sync asks for ``UID n:*`` above that, fetches in batches with ``BODY.PEEK[]`` (no ``\\Seen``),
and stores each batch — raw bytes, reports, and the new position — in ONE transaction. A drop,
Ctrl-C or kill -9 at any point loses at most an uncommitted batch, which the next sync fetches
again. A new UIDVALIDITY restarts the folder from UID 1; reports and raw inputs de-duplicate.
Messages that cannot be parsed are stored as rejected with their error and the position moves
past them: they never block the queue. The archive move (when configured) happens only after
the batch is committed, and moves still owed are kept in the store and retried.

No Textual here: progress goes to a plain callback, which the CLI prints and the TUI turns
into messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tlsrpt_tui.core.model import InputStatus, Origin, RawInput
from tlsrpt_tui.net.imap import (
    IDLE_MAX_SECONDS,
    ImapAuthError,
    ImapClient,
    ImapConnectionLost,
    ImapError,
    ImapFolderError,
    ImapTimeout,
    ImapTLSError,
)
from tlsrpt_tui.service import secrets
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.dkim import DkimChecker, DkimKeys
from tlsrpt_tui.service.ingest import IngestOutcome, OutcomeKind, Prepared, ingest_batch
from tlsrpt_tui.service.leasing import IDLE, WORKING, LeaseLost, Leaser, standby_poll
from tlsrpt_tui.service.pipeline import DEPTH, IngestPipeline, PreparedHandle
from tlsrpt_tui.service.supervise import Body, Handle, Supervisor, describe
from tlsrpt_tui.service.sync_events import (
    FolderSummary,
    ProgressCallback,
    SyncEvent,
    SyncSummary,
)
from tlsrpt_tui.store import imap_state
from tlsrpt_tui.store.database import Store

log = logging.getLogger(__name__)

#: At most this many bytes of mail in one FETCH (a single larger message still goes alone).
#: With ``pipeline.DEPTH`` batches waiting for their commit and one more being fetched, a
#: sync holds at most 4 x 24 MiB of fetched mail at once (it was 3 x 32 MiB with 2 waiting).
BATCH_BYTES = 24 * 1024 * 1024

#: Backoff between reconnects in watch mode: 1 s doubling to 5 minutes, with jitter.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0

#: A failing archive move is retried after this long, doubling to MOVE_RETRY_MAX.
MOVE_RETRY_FIRST = 60.0
MOVE_RETRY_MAX = 3600.0


#: Runs inside each commit's transaction; raises (store.leases.LeaseLost) to refuse it.
Fence = Callable[[Store], None]
#: Runs inside a batch's transaction after its inputs are stored, with the ids of the inputs
#: that brought new reports; what it returns is committed with the batch and handed to the
#: batch's SyncEvent (``raised``). ``watch`` raises the reports' alerts there (alerts.md:
#: "in the same transaction as the event that raised it").
CommitHook = Callable[[Store, list[int]], Sequence[object]]


def _noop(event: SyncEvent) -> None:
    pass


# --------------------------------------------------------------------------------------------
# Connecting


async def open_account(account: AccountSettings, *, timeout: float = 30.0) -> ImapClient:
    """Connect and authenticate; errors are ImapError / SecretError with safe messages."""
    if account.auth not in ("login", "xoauth2"):
        raise ImapError(f"account {account.name}: auth must be login or xoauth2")
    client = await ImapClient.connect(
        account.host,
        account.port,
        security=account.security,
        ca_file=account.ca_file,
        timeout=timeout,
    )
    try:
        if account.auth == "xoauth2":
            token = await asyncio.to_thread(secrets.get_oauth_token, account)
            await client.xoauth2(account.username, token)
        else:
            password = await asyncio.to_thread(secrets.get_password, account)
            await client.login(account.username, password)
    except BaseException:
        client.abort()
        raise
    return client


# --------------------------------------------------------------------------------------------
# One folder


async def sync_folder(
    store: Store,
    client: ImapClient,
    account: AccountSettings,
    folder: str,
    *,
    on_progress: ProgressCallback = _noop,
    summary: FolderSummary | None = None,
    select: bool = True,
    pipeline: IngestPipeline | None = None,
    dkim: DkimChecker | None = None,
    fence: Fence | None = None,
    in_commit: CommitHook | None = None,
) -> FolderSummary:
    """Bring one folder up to date on an authenticated connection.

    Bodies are read here, on the loop; each batch is parsed by ``pipeline``'s worker
    processes and committed with the folder's new position by its writer thread (one is
    made for this call when none is given), at most ``pipeline.DEPTH`` batches ahead of the
    last finished commit. With ``dkim``, each mail is DKIM-verified where it is parsed (the
    parser processes look the keys up themselves: ``KeysLookedUpHere``) and the verdict is
    stored with it.
    ``fence`` runs inside each commit's transaction (the folder's lease: it raises when
    another worker took the folder over, and nothing of that batch is committed);
    ``in_commit`` too, after the batch's inputs are stored (``CommitHook``)."""
    if pipeline is None:
        async with IngestPipeline(store) as own:
            return await sync_folder(store, client, account, folder, on_progress=on_progress,
                                     summary=summary, select=select, pipeline=own, dkim=dkim,
                                     fence=fence, in_commit=in_commit)
    summary = summary or FolderSummary(account.name, folder)
    if account.archive_folder is not None and account.archive_folder in account.folders:
        # Moving a folder's mail into a folder we also sync would fetch it again every time.
        raise ImapError(
            f"account {account.name}: archive_folder {account.archive_folder!r} is also in "
            "folders; choose a folder that is not synced"
        )
    readonly = account.archive_folder is None
    if select or client.selected is None or client.selected.name != folder:
        info = await client.select(folder, readonly=readonly)
    else:
        info = client.selected
    before, state = await pipeline.write(_begin, account.name, folder, info.uidvalidity,
                                         fence)
    summary.uidvalidity = info.uidvalidity
    if before is not None and before.uidvalidity != info.uidvalidity:
        summary.resync = True
        on_progress(
            SyncEvent(
                "progress",
                summary,
                f"{account.name}/{folder}: UIDVALIDITY changed "
                f"({before.uidvalidity} → {info.uidvalidity}): reading the folder again",
            )
        )
    if account.archive_folder and asyncio.get_running_loop().time() >= summary.move_retry_at:
        owed = await pipeline.write(_owed_moves, account.name, folder, info.uidvalidity)
        if owed:
            await _move(pipeline, client, account, folder, info.uidvalidity, owed, summary,
                        on_progress)
    uids = await client.uids_from(state.last_uid + 1)
    summary.pending = len(uids)
    on_progress(SyncEvent("progress", summary, f"{account.name}/{folder}: {len(uids)} to fetch"))
    if not uids:
        await pipeline.write(_touch, account.name, folder)
        return summary
    plan = _Planner(client, uids, max(1, account.batch_size))
    # The next batch's FETCH is sent before this batch is parsed and committed, so the server
    # reads and sends it while we work; the batch goes to the parsers and the writer, and at
    # most DEPTH batches wait for their commit (backpressure). Only a commit moves the stored
    # position, and commits happen in fetch order.
    batch = await plan.next()
    pending: asyncio.Future[_Fetched] | None = await _start_fetch(client, batch)
    in_flight: deque[tuple[Batch, asyncio.Future[_Committed]]] = deque()

    async def finish_oldest() -> _Committed:
        batch, commit = in_flight.popleft()
        committed = await commit
        committed.apply(summary)  # only now, after COMMIT, does what the caller shows change
        summary.pending -= len(batch.uids)
        on_progress(SyncEvent("batch", summary, summary.line(),
                              new_reports=committed.new_reports, raised=committed.raised))
        return committed

    try:
        while True:
            assert pending is not None
            fetched = await pending
            pending = None
            following: Batch | None = None
            if plan.ready() and not account.archive_folder:  # planned: no size query first
                following = await plan.next()
                pending = await _start_fetch(client, following)
            raws = _raw_inputs(account, folder, info.uidvalidity, batch, fetched)
            keys = None
            if dkim is not None and raws:
                # The parsers ask DNS for the keys as they verify (each caches them for their
                # TTL), as import's do: scanning every mail for its key names here cost this
                # process ~15-20 us a mail, in the GIL its loop and writer share (in the TUI,
                # the process that draws the screen).
                keys = dkim.looked_up_where_verified(
                    trusted_authserv_id=account.trusted_authserv_id)
            prepared = pipeline.prepare(list(raws.values()), keys)
            in_flight.append((batch, pipeline.write(
                _commit_batch, account, folder, info.uidvalidity, batch, fetched, raws, prepared,
                keys,
                fence,
                in_commit,
            )))
            if account.archive_folder:
                stored_uids = (await finish_oldest()).stored
                if stored_uids and asyncio.get_running_loop().time() >= summary.move_retry_at:
                    await _move(
                        pipeline, client, account, folder, info.uidvalidity, stored_uids,
                        summary, on_progress,
                    )
            if following is None and plan.more():
                # the next window's sizes are asked for now, this batch being with the
                # parsers already (or, archiving, committed and moved)
                following = await plan.next()
                pending = await _start_fetch(client, following)
            if not account.archive_folder and len(in_flight) >= DEPTH:
                await finish_oldest()
            if following is None:
                break
            batch = following
        while in_flight:
            await finish_oldest()
    finally:
        if pending is not None:  # a failed commit or move: drop the FETCH in flight
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        # Batches already fetched whole are still committed, in order (as if each had been
        # committed before the next FETCH); a failure among them ends the wait, the rest of
        # the queue then refuses to write.
        while in_flight:
            try:
                await finish_oldest()
            except BaseException:
                break
    return summary


def _begin(store: Store, account: str, folder: str, uidvalidity: int, fence: Fence | None = None,
           ) -> tuple[imap_state.FolderState | None, imap_state.FolderState]:
    """(the folder's stored state before, after noting the server's UIDVALIDITY)."""
    with store.transaction():
        if fence is not None:
            fence(store)
        before = imap_state.get(store, account, folder)
        return before, imap_state.begin(store, account, folder, uidvalidity)


def _touch(store: Store, account: str, folder: str) -> None:
    with store.transaction():
        imap_state.touch(store, account, folder)


def _owed_moves(store: Store, account: str, folder: str, uidvalidity: int) -> list[int]:
    return imap_state.pending_moves(store, account, folder, uidvalidity)


def _moved(store: Store, account: str, folder: str, uidvalidity: int, uids: list[int]) -> None:
    with store.transaction():
        imap_state.clear_pending_moves(store, account, folder, uidvalidity, uids)


@dataclass(slots=True)
class Batch:
    """UIDs committed together; ``oversized`` ones (uid → size) are not fetched whole."""

    uids: list[int] = field(default_factory=list)
    fetch: list[int] = field(default_factory=list)
    oversized: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Fetched:
    bodies: dict[int, bytes]
    headers: dict[int, bytes]


#: Sizes are asked for this many UIDs at a time (at least a batch), as the sync reaches them
#: (``_Planner``): on a first sync Dovecot reads each message to size it (~0.09 ms a mail), so
#: a small window keeps each query shorter than the parsers' work on the batch before it.
SIZE_WINDOW = 1000


class _Planner:
    """A folder's batches, planned one window of UIDs at a time as the sync reaches them.

    Why: planning needs each message's size (no FETCH over BATCH_BYTES, no message over the
    parser's limit fetched whole), and asking every size before the first FETCH kept the
    first FETCH, and so the parser processes, waiting: 0.1 s for 10,000 mails whose sizes
    Dovecot had cached, about 0.5 s on a first sync. The first window is one batch, so its
    FETCH follows a short size query; each later window (SIZE_WINDOW UIDs, or a batch) is
    asked for when the sync reaches it, while the parsers work on what came before.
    """

    def __init__(self, client: ImapClient, uids: Sequence[int], max_count: int) -> None:
        self._client = client
        self._max_count = max_count
        first = list(uids[:max_count])
        step = max(max_count, SIZE_WINDOW)
        rest = [list(uids[i : i + step]) for i in range(max_count, len(uids), step)]
        self._windows: deque[list[int]] = deque([first, *rest] if first else [])
        self._ready: deque[Batch] = deque()

    def ready(self) -> bool:
        """A next batch is planned already (taking it needs no round trip)."""
        return bool(self._ready)

    def more(self) -> bool:
        """Any batch left, planned or not."""
        return bool(self._ready or self._windows)

    async def next(self) -> Batch:
        """The next batch (asking the server for the next window's sizes when needed)."""
        while not self._ready:
            window = self._windows.popleft()  # IndexError past the end: a caller's bug
            sizes = await self._client.sizes(window)
            self._ready.extend(plan_batches(
                window, sizes, max_count=self._max_count, max_bytes=BATCH_BYTES,
                max_message=_max_message_bytes(),
            ))
        return self._ready.popleft()


def plan_batches(
    uids: Sequence[int],
    sizes: dict[int, int],
    *,
    max_count: int,
    max_bytes: int,
    max_message: int,
) -> list[Batch]:
    """Cut the UIDs into batches of at most ``max_count`` messages and ``max_bytes`` of mail.

    A message over ``max_message`` (the parser's input limit) is never fetched whole: its
    header is stored with the reason, so one huge message can neither exhaust memory nor stall
    the folder. UIDs without a size (expunged meanwhile) ride along and simply come back empty.
    """
    batches: list[Batch] = []
    cur = Batch()
    cur_bytes = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        fetch_whole = size <= max_message
        if cur.uids and (
            len(cur.uids) >= max_count or (fetch_whole and cur_bytes + size > max_bytes)
        ):
            batches.append(cur)
            cur, cur_bytes = Batch(), 0
        cur.uids.append(uid)
        if fetch_whole:
            cur.fetch.append(uid)
            cur_bytes += size
        else:
            cur.oversized[uid] = size
    if cur.uids:
        batches.append(cur)
    return batches


def _max_message_bytes() -> int:
    from tlsrpt_tui.core.parse import DEFAULT_LIMITS

    return int(DEFAULT_LIMITS.max_message_bytes)


async def _fetch(client: ImapClient, batch: Batch) -> _Fetched:
    bodies = await client.fetch_bodies(batch.fetch) if batch.fetch else {}
    headers = await client.fetch_headers(list(batch.oversized)) if batch.oversized else {}
    return _Fetched(bodies, headers)


async def _start_fetch(client: ImapClient, batch: Batch) -> asyncio.Future[_Fetched]:
    """Start a FETCH and yield until its command is on the wire (it then runs in background)."""
    task = asyncio.ensure_future(_fetch(client, batch))
    for _ in range(4):  # task start → _fetch → _call → execute → send: a few loop turns
        await asyncio.sleep(0)
    return task


def _raw_inputs(account: AccountSettings, folder: str, uidvalidity: int, batch: Batch,
                fetched: _Fetched) -> dict[int, RawInput]:
    """uid -> the fetched message as an input, for each whole body (what the parsers get)."""
    out = {}
    for uid in batch.fetch:
        data = fetched.bodies.get(uid)
        if data is not None:
            out[uid] = RawInput(
                source=f"imap:{account.name}/{folder};UIDVALIDITY={uidvalidity}/;UID={uid}",
                data=data,
                origin=Origin(kind="imap", account=account.name, folder=folder,
                              uidvalidity=uidvalidity, uid=uid),
            )
    return out


@dataclass(slots=True)
class _Committed:
    """What one committed batch changed (applied to the folder's summary on the loop)."""

    stored: list[int] = field(default_factory=list)  # UIDs stored (archive candidates)
    counts: dict[str, int] = field(default_factory=dict)
    new_reports: int = 0
    problems: list[str] = field(default_factory=list)
    raised: tuple[object, ...] = ()  # what the CommitHook returned

    def apply(self, summary: FolderSummary) -> None:
        summary.seen += self.counts["seen"]
        summary.new += self.counts["new"]
        summary.duplicate += self.counts["duplicate"]
        summary.rejected += self.counts["rejected"]
        summary.not_report += self.counts["not_report"]
        summary.new_reports += self.new_reports
        summary.problems.extend(self.problems)


def _commit_batch(
    store: Store,
    account: AccountSettings,
    folder: str,
    uidvalidity: int,
    batch: Batch,
    fetched: _Fetched,
    raws: dict[int, RawInput],
    prepared: PreparedHandle,
    keys: DkimKeys | None = None,
    fence: Fence | None = None,
    in_commit: CommitHook | None = None,
) -> _Committed:
    """Store one fetched batch and the new position in one transaction (on the writer thread).

    ``raws`` are the batch's whole bodies as inputs and ``prepared`` their parsing, done by
    the worker processes meanwhile (None: parsed here, DKIM-verified with ``keys``). UIDs
    the server no longer has
    (expunged meanwhile) are simply passed. Identical bytes already stored from this account
    (a resync, a message moved between folders) count as duplicates without storing them
    again.
    """
    ready = prepared()  # waits for the parsers here, on the writer thread
    by_uid = dict(zip(raws, ready, strict=True)) if ready is not None else {}
    counts = {"seen": 0, "new": 0, "duplicate": 0, "rejected": 0, "not_report": 0}
    stored: list[int] = []
    problems: list[str] = []
    new_reports = 0
    here: dict[int, tuple[bytes, bytes]] = {}  # uid -> (bytes, SHA-256), in batch order
    for uid in batch.uids:
        data = fetched.bodies.get(uid)
        if data is None:
            data = fetched.headers.get(uid)
        if data is None:
            continue  # expunged since the search
        one = by_uid.get(uid)
        digest = one.digest if one is not None and one.digest is not None else None
        here[uid] = (data, digest or hashlib.sha256(data).digest())
    with store.transaction():
        if fence is not None:
            fence(store)
        statuses = imap_state.known_input_statuses(
            store, account.name, (digest for _, digest in here.values()))
        todo: list[RawInput] = []
        for uid, (data, digest) in here.items():
            counts["seen"] += 1
            known = statuses.get(digest)
            if known == str(InputStatus.NOT_REPORT):
                counts["not_report"] += 1  # recorded before; still never moved
                continue
            if known is not None:
                if known == str(InputStatus.REJECTED):
                    counts["rejected"] += 1
                else:
                    counts["duplicate"] += 1
                stored.append(uid)
                continue
            raw = raws.get(uid)
            if raw is None or uid in batch.oversized:
                origin = Origin(kind="imap", account=account.name, folder=folder,
                                uidvalidity=uidvalidity, uid=uid)
                source = f"imap:{account.name}/{folder};UIDVALIDITY={uidvalidity}/;UID={uid}"
                raw = RawInput(source=source, data=data, origin=origin)
                error = (
                    f"message is {batch.oversized.get(uid, len(data))} bytes, over the "
                    f"{_max_message_bytes()} byte limit; only its header was stored"
                )
                _store_rejected(store, raw, error)
                counts["rejected"] += 1
                problems.append(f"{source}: {error}")
                stored.append(uid)
                continue
            todo.append(raw)
        todo_prepared = [by_uid[r.origin.uid] for r in todo] if by_uid else None  # type: ignore[index]
        outcomes = _ingest_safely(store, todo, todo_prepared, keys)
        for raw, outcome in zip(todo, outcomes, strict=True):
            new_reports += outcome.new_reports
            if outcome.kind is OutcomeKind.NEW:
                counts["new"] += 1
            elif outcome.kind is OutcomeKind.DUPLICATE:
                counts["duplicate"] += 1
            elif outcome.kind is OutcomeKind.REJECTED:
                counts["rejected"] += 1
                problems.append(outcome.line)
            else:
                counts["not_report"] += 1
                store_not_report(store, raw, outcome.error)
                continue  # not ours: recorded, never moved, never alerted
            if raw.origin.uid is not None:
                stored.append(raw.origin.uid)
        raised = _run_hook(store, in_commit, [
            o.input_pk for o in outcomes if o.new_reports and o.input_pk is not None])
        imap_state.advance(
            store,
            account.name,
            folder,
            uidvalidity,
            max(batch.uids),
            imap_state.BatchCounts(**counts),
        )
        if account.archive_folder and stored:
            imap_state.add_pending_moves(store, account.name, folder, uidvalidity, stored)
    return _Committed(sorted(stored), counts, new_reports, problems, tuple(raised))


def _run_hook(store: Store, hook: CommitHook | None, input_pks: list[int]) -> Sequence[object]:
    """The commit hook inside the batch's transaction, under a savepoint: if it fails, its
    writes are undone and the batch still commits (its reports stay pending for the alert
    engine's next scan): a bug in what the hook does never stops a folder's mail."""
    if hook is None or not input_pks:
        return ()
    try:
        with store.savepoint("commit_hook"):
            return hook(store, input_pks)
    except Exception:
        log.exception("inside a batch's commit (left for the next scan)")
        return ()


def _ingest_safely(store: Store, inputs: list[RawInput],
                   prepared: list[Prepared] | None = None,
                   keys: DkimKeys | None = None) -> list[IngestOutcome]:
    """ingest_batch, but one input that makes the parser or store raise cannot block the rest.

    The batch is tried whole inside a SAVEPOINT; if anything raises, it is redone one input
    at a time and an input that still raises is stored as rejected with the exception's type
    and message, so the folder's position can move past it.
    """
    if not inputs:
        return []
    try:
        with store.savepoint("sync_batch"):
            return ingest_batch(store, inputs, prepared=prepared, keys=keys)
    except Exception:
        pass
    out: list[IngestOutcome] = []
    for raw in inputs:
        try:
            with store.savepoint("sync_one"):
                out.extend(ingest_batch(store, [raw], keys=keys))
        except Exception as exc:
            out.append(_store_crashed(store, raw, exc))
    return out


def _store_crashed(store: Store, raw: RawInput, exc: Exception) -> IngestOutcome:
    error = f"internal error while reading this input: {type(exc).__name__}: {exc}"[:500]
    log.error("%s: %s", raw.source, error)
    pk = _store_rejected(store, raw, error)
    return IngestOutcome(raw.source, OutcomeKind.REJECTED, error=error, input_pk=pk)


def _store_rejected(store: Store, raw: RawInput, error: str) -> int:
    """Keep an input we could not hand to the parser, with why (shown as "unreadable")."""
    from tlsrpt_tui.service.ingest import parser_version
    from tlsrpt_tui.store import reports as db

    pk, _ = db.store_raw_input(
        store,
        source=raw.source,
        data=raw.data,
        origin=raw.origin,
        status=InputStatus.REJECTED,
        error=error,
        parser_version=parser_version(),
    )
    return pk


#: A not-a-report mail is kept whole up to this size; above it, only its header.
NOT_REPORT_KEEP_BYTES = 256 * 1024


def store_not_report(store: Store, raw: RawInput, reason: str | None) -> int:
    """Record mail judged "not a report" so a parser fix can bring a misjudged report back.

    Kept: where it came from, its size and SHA-256 (of the whole message), From/Subject/Date
    in the reason line, and its bytes up to NOT_REPORT_KEEP_BYTES, else only its header
    (``reparse`` leaves a header-only record alone). It is never moved and never alerted.
    """
    from tlsrpt_tui.service.ingest import parser_version
    from tlsrpt_tui.store import reports as db

    data = raw.data
    kept = data if len(data) <= NOT_REPORT_KEEP_BYTES else _header_of(data)
    line = (reason or "not a TLS-RPT report") + " — " + _header_summary(data)
    if kept is not data:
        line += f" (over {NOT_REPORT_KEEP_BYTES // 1024} KiB: header only kept)"
    pk, _ = db.store_raw_input(
        store,
        source=raw.source,
        data=kept,
        origin=raw.origin,
        status=InputStatus.NOT_REPORT,
        error=line[:1000],
        parser_version=parser_version(),
        digest=hashlib.sha256(data).digest(),
    )
    if kept is not data:
        store.conn.execute("UPDATE raw_inputs SET size = ? WHERE id = ?", (len(data), pk))
    return pk


def _header_of(data: bytes) -> bytes:
    cut = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0),
              default=-1)
    head = data if cut < 0 else data[:cut]
    return head[:NOT_REPORT_KEEP_BYTES]


def _header_summary(data: bytes) -> str:
    """``From: …; Subject: …; Date: …`` decoded (RFC 2047), one line, no control characters."""
    import email.parser
    import email.policy

    try:
        msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            _header_of(data[:65536]), headersonly=True
        )
        fields = [(name, msg.get(name)) for name in ("From", "Subject", "Date")]
        parts = [f"{name}: {_one_line(str(value))[:200]}" for name, value in fields if value]
    except Exception as exc:  # hostile headers: the record still stands, without them
        return f"header unreadable ({type(exc).__name__})"
    return "; ".join(parts) or "no From/Subject/Date"


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


async def _move(
    pipeline: IngestPipeline,
    client: ImapClient,
    account: AccountSettings,
    folder: str,
    uidvalidity: int,
    uids: list[int],
    summary: FolderSummary,
    on_progress: ProgressCallback = _noop,
) -> None:
    """Archive committed messages, best effort; what is moved is struck from the owed list.

    The messages are already stored and owed in the store, so a MOVE the server refuses (quota,
    a deleted archive folder) is reported and retried later (1 minute doubling to an hour):
    it never stops the folder's new mail from being fetched. A lost connection still raises,
    since nothing more can be done on it.
    """
    assert account.archive_folder is not None
    try:
        await client.move(uids, account.archive_folder)
    except (ImapConnectionLost, ImapTimeout):
        raise
    except ImapError as exc:
        summary.move_failures += 1
        wait = min(MOVE_RETRY_MAX, MOVE_RETRY_FIRST * 2 ** (summary.move_failures - 1))
        summary.move_retry_at = asyncio.get_running_loop().time() + wait
        line = (
            f"{account.name}/{folder}: archiving {len(uids)} message(s) to "
            f"{account.archive_folder} failed: {exc}; they stay owed, retrying in {wait:.0f}s"
        )
        log.warning("%s", line)
        summary.problems.append(line)
        on_progress(SyncEvent("warning", summary, line))
        return
    summary.move_failures = 0
    summary.move_retry_at = 0.0
    # Struck from the owed list by the writer thread, after the batches queued before it.
    await pipeline.write(_moved, account.name, folder, uidvalidity, uids)
    summary.moved += len(uids)


# --------------------------------------------------------------------------------------------
# Accounts
#
# Several workers (``sync``, ``watch``, TUIs, on one host or many) may share one store: each
# folder is synced under its lease (``imap:ACCOUNT/FOLDER``, service/leasing.py), so two of
# them never fetch and store the same messages. A one-shot sync that finds a folder leased
# waits while the holder is storing a batch, then syncs whatever is left; a folder held by
# its watcher (IDLE: it fetches new mail as it arrives) is left to it.

#: A one-shot sync looks again at a folder another worker is syncing this often.
BUSY_POLL = 0.5


def folder_lease_name(account: str, folder: str) -> str:
    return f"imap:{account}/{folder}"


async def sync_account(
    store: Store,
    account: AccountSettings,
    *,
    on_progress: ProgressCallback = _noop,
    timeout: float = 30.0,
    dkim: DkimChecker | None = None,
    leaser: Leaser | None = None,
    folders: Sequence[str] | None = None,
    in_commit: CommitHook | None = None,
) -> SyncSummary:
    """One pass over every folder of an account (or ``folders``) that this worker can lease.

    Folders another worker is syncing are returned in ``busy`` (the caller comes back for
    them), folders a watcher keeps up to date in ``watched_elsewhere``. The connection is
    opened for the first leased folder only. Connection/auth errors raise ImapError."""
    if leaser is None:
        own = Leaser(store)
        try:
            return await sync_account(store, account, on_progress=on_progress,
                                      timeout=timeout, dkim=dkim, leaser=own, folders=folders,
                                      in_commit=in_commit)
        finally:
            await own.aclose()
    result = SyncSummary()
    client: ImapClient | None = None
    try:
        for folder in account.folders if folders is None else folders:
            ok, lease = await leaser.acquire(folder_lease_name(account.name, folder), "imap")
            if not ok:
                if lease.state == IDLE:
                    line = f"{account.name}/{folder}: watched by another worker ({lease.line()})"
                    result.watched_elsewhere.append(line)
                    on_progress(SyncEvent("progress", None, line))
                else:
                    result.busy.append((folder, lease))
                continue
            fs = FolderSummary(account.name, folder)
            try:
                async with leaser.hold(lease) as held:
                    if client is None:
                        client = await open_account(account, timeout=timeout)
                    result.folders.append(fs)
                    await sync_folder(
                        store, client, account, folder, on_progress=on_progress, summary=fs,
                        dkim=dkim, fence=held.fence, in_commit=in_commit,
                    )
            except ImapFolderError as exc:
                # One missing folder does not stop the others (the connection is fine).
                result.errors.append(f"account {account.name}: {exc}")
                on_progress(SyncEvent("error", fs, f"account {account.name}: {exc}"))
                continue
            except LeaseLost as exc:
                # This worker stalled past its lease and another one took the folder over:
                # nothing of the refused batch was stored; come back for what is left.
                line = f"{account.name}/{folder}: {exc}; it finishes the folder"
                log.warning("%s", line)
                on_progress(SyncEvent("warning", fs, line))
                result.busy.append((folder, lease))
                if client is not None:  # a FETCH may have been cut short on it
                    client.abort()
                    client = None
                continue
            on_progress(SyncEvent("done", fs, fs.line()))
    except BaseException:
        if client is not None:
            client.abort()
        raise
    if client is not None:
        await client.logout()
    return result


async def sync_all(
    store: Store,
    accounts: Sequence[AccountSettings],
    *,
    on_progress: ProgressCallback = _noop,
    timeout: float = 30.0,
    dkim: DkimChecker | None = None,
    leaser: Leaser | None = None,
    in_commit: CommitHook | None = None,
) -> SyncSummary:
    """Sync each account in turn; one account's failure is recorded and the others still run.

    Returns once every folder was brought up to date, by this worker or by the one holding
    it: a folder another worker is syncing is skipped for now and taken up again when that
    worker is done (or dead), after the other folders."""
    if leaser is None:
        own = Leaser(store)
        try:
            return await sync_all(store, accounts, on_progress=on_progress, timeout=timeout,
                                  dkim=dkim, leaser=own, in_commit=in_commit)
        finally:
            await own.aclose()
    total = SyncSummary()
    todo: dict[str, list[str]] = {a.name: list(a.folders) for a in accounts}
    waiting_shown: set[tuple[str, str]] = set()
    while any(todo.values()):
        progressed = False
        for account in accounts:
            if not todo[account.name]:
                continue
            try:
                one = await sync_account(store, account, on_progress=on_progress,
                                         timeout=timeout, dkim=dkim, leaser=leaser,
                                         folders=todo[account.name], in_commit=in_commit)
            except (ImapError, secrets.SecretError) as exc:
                total.errors.append(str(exc))
                on_progress(SyncEvent("error", None, str(exc)))
                todo[account.name] = []
                progressed = True
                continue
            total.folders.extend(one.folders)
            total.errors.extend(one.errors)
            total.watched_elsewhere.extend(one.watched_elsewhere)
            progressed = progressed or bool(one.folders or one.watched_elsewhere)
            todo[account.name] = [folder for folder, _ in one.busy]
            for folder, lease in one.busy:
                if (account.name, folder) not in waiting_shown:
                    waiting_shown.add((account.name, folder))
                    on_progress(SyncEvent(
                        "progress", None,
                        f"{account.name}/{folder}: another worker is syncing it "
                        f"({lease.line()}); waiting for it"))
        if any(todo.values()) and not progressed:
            await asyncio.sleep(BUSY_POLL)
    return total


# --------------------------------------------------------------------------------------------
# Watching


def imap_min_wait(exc: BaseException) -> float:
    """Errors that retrying soon cannot fix (login, TLS, a missing folder): at least a minute."""
    fatal = isinstance(exc, ImapAuthError | ImapTLSError | ImapFolderError | secrets.SecretError)
    return 60.0 if fatal else 0.0


def folder_worker_name(account: AccountSettings, folder: str) -> str:
    return f"imap {account.name}/{folder}"


async def watch(
    store: Store,
    accounts: Sequence[AccountSettings],
    *,
    on_progress: ProgressCallback = _noop,
    timeout: float = 30.0,
    idle_seconds: float = IDLE_MAX_SECONDS,
    backoff_first: float = BACKOFF_FIRST,
    backoff_max: float = BACKOFF_MAX,
    supervisor: Supervisor | None = None,
    dkim: DkimChecker | None = None,
    leaser: Leaser | None = None,
    in_commit: CommitHook | None = None,
) -> None:
    """Keep every folder of every account in sync until cancelled: one IDLE connection each.

    Each folder's worker takes the folder's lease (or stands by while another worker has it,
    and takes over when that one stops or dies), catches up, then IDLEs (re-IDLE at most
    every 25 minutes) and syncs whenever the server reports a change. It runs under a
    ``Supervisor``: ANY exception (a dropped connection, a locked store, a lost lease, a bug)
    is logged and reported, and the folder is reopened after a backoff (1 s doubling to 5
    minutes, at least a minute for login/TLS/folder errors, reset after a successful sync).
    One folder's trouble never touches the others. Cancel the task to stop.
    """
    sup = supervisor or Supervisor(backoff_first=backoff_first, backoff_max=backoff_max)
    own = leaser is None
    leases = leaser or Leaser(store)
    tasks = []
    for account in accounts:
        for folder in account.folders:
            body = _folder_watcher(store, account, folder, on_progress, timeout, idle_seconds,
                                   dkim, leases, in_commit)
            tasks.append(
                sup.spawn(folder_worker_name(account, folder), body, min_wait=imap_min_wait)
            )
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if own:
            await leases.aclose()


def _folder_watcher(
    store: Store,
    account: AccountSettings,
    folder: str,
    on_progress: ProgressCallback,
    timeout: float,
    idle_seconds: float,
    dkim: DkimChecker | None,
    leaser: Leaser,
    in_commit: CommitHook | None = None,
) -> Body:
    """The body the supervisor runs (again after each failure) for one folder."""
    summary = FolderSummary(account.name, folder)
    attempts = 0
    name = folder_lease_name(account.name, folder)

    async def body(handle: Handle) -> None:
        nonlocal attempts
        while True:  # stand by until this worker has the folder
            ok, lease = await leaser.acquire(name, "imap")
            if ok:
                break
            handle.standby(f"held by {lease.who}")
            await asyncio.sleep(standby_poll(leaser.ttl))
        attempts += 1
        if attempts > 1:
            on_progress(SyncEvent("reconnect", summary, f"{account.name}/{folder}: reconnecting"))
        client: ImapClient | None = None
        try:
            async with leaser.hold(lease) as held:
                client = await open_account(account, timeout=timeout)
                await sync_folder(
                    store, client, account, folder, on_progress=on_progress, summary=summary,
                    dkim=dkim, fence=held.fence, in_commit=in_commit,
                )
                handle.ok()
                while True:
                    await held.set_state(IDLE)
                    on_progress(SyncEvent("idle", summary, f"{account.name}/{folder}: watching"))
                    await client.idle(idle_seconds)
                    await held.set_state(WORKING)
                    await sync_folder(
                        store, client, account, folder, on_progress=on_progress,
                        summary=summary, select=False, dkim=dkim, fence=held.fence,
                        in_commit=in_commit,
                    )
                    handle.ok()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            on_progress(SyncEvent("error", summary, f"{account.name}/{folder}: {describe(exc)}"))
            raise
        finally:
            if client is not None:
                client.abort()

    return body
