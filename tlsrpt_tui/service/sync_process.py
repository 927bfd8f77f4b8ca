"""The TUI's IMAP sync in a process of its own, so the TUI's event loop only draws and reads keys.

Why: run inside the TUI, a first sync of thousands of mails kept the screen's loop busy with
IMAP reading, aioimaplib's response parsing and each batch's bookkeeping, and every key waited
behind it (bench/bench_keys_sync.py). Here the folder watchers and the manual syncs run in a
child (``python -m tlsrpt_tui.service.sync_worker``, at a lower CPU priority), which opens the
same store, holds the folders' leases and commits exactly as ``watch`` does. The TUI learns
what happens from the lines the child writes (one JSON object per line: sync events, its
folder watchers' states, each manual sync's summary) and, as for any other writer, from the
store's change feed it follows anyway.

The child
- gets nothing secret on its command line or in its environment: the store's password, the
  accounts (an inline password among them) and the values of their ``password_env``
  variables travel over its stdin, with each command (so a changed variable is used at the
  next sync, as before); password and token commands and the keyring it runs itself, at
  each login;
- ends when its stdin closes (the TUI exits, however it ends: even killed, its end of the
  pipe closes), on SIGTERM or SIGHUP, and when the TUI dies (Linux: PR_SET_PDEATHSIG);
- never ends quietly: ``watch`` runs it as the supervised worker ``imap sync process``, which
  starts a new child with backoff when one ends and shows "retrying since T: the sync process
  ended (...)" meanwhile; the child's folder watchers' own states (running, retrying since T,
  standby) are mirrored into the caller's Supervisor; a manual sync whose child ends fails
  with that reason.

No Textual here (service/): the TUI reaches it through its facade (service/backend.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.supervise import Handle, Supervisor, WorkerState
from tlsrpt_tui.service.sync_events import FolderSummary, ProgressCallback, SyncEvent, SyncSummary
from tlsrpt_tui.store.location import StoreLocation

__all__ = ["PROCESS_WORKER", "SyncProcess", "SyncProcessEnded"]

#: The supervised worker that keeps a watching child running (the TUI's sync line shows the
#: states of workers named "imap ...").
PROCESS_WORKER = "imap sync process"
#: A child that has run this long counts as healthy: the restart backoff starts over.
STABLE_SECONDS = 10.0
#: How long a child gets to release its leases and exit once told to, before it is killed.
STOP_SECONDS = 5.0
#: The child's module (``python -m``).
WORKER_MODULE = "tlsrpt_tui.service.sync_worker"


class SyncProcessEnded(Exception):
    """The sync process ended while work was asked of it; the message says how."""


class SyncFailed(Exception):
    """A manual sync failed inside the sync process (the message is its one-line reason)."""


# --------------------------------------------------------------------------------------------
# What travels over the pipes (both ends use these)


def location_to_wire(location: StoreLocation) -> dict[str, Any]:
    return {"kind": location.kind, "path": str(location.path) if location.path else None,
            "url": location.url, "password": location.password}


def location_from_wire(data: Mapping[str, Any]) -> StoreLocation:
    path = data.get("path")
    return StoreLocation(data["kind"], Path(path) if path else None, data.get("url"),
                         data.get("password"))


def account_to_wire(account: AccountSettings) -> dict[str, Any]:
    return asdict(account)


def account_from_wire(data: Mapping[str, Any]) -> AccountSettings:
    known = {f.name for f in fields(AccountSettings)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
    return AccountSettings(**values)


def event_to_wire(event: SyncEvent, job: int | None) -> dict[str, Any]:
    """An event's line. Its folder's ``problems`` (one line per unreadable mail so far) are
    left out: every batch would repeat them all; the summary at the end carries them."""
    folder = None
    if event.folder is not None:
        folder = asdict(event.folder)
        del folder["problems"]
    return {"t": "event", "job": job, "kind": event.kind, "message": event.message,
            "new_reports": event.new_reports, "folder": folder}


def event_from_wire(data: Mapping[str, Any]) -> SyncEvent:
    folder = data.get("folder")
    return SyncEvent(str(data["kind"]), FolderSummary(**folder) if folder else None,
                     str(data.get("message") or ""), int(data.get("new_reports") or 0))


def summary_to_wire(summary: SyncSummary) -> dict[str, Any]:
    return {"folders": [asdict(f) for f in summary.folders], "errors": summary.errors,
            "watched_elsewhere": summary.watched_elsewhere}


def summary_from_wire(data: Mapping[str, Any]) -> SyncSummary:
    return SyncSummary([FolderSummary(**f) for f in data.get("folders", ())],
                       list(data.get("errors", ())),
                       watched_elsewhere=list(data.get("watched_elsewhere", ())))


def state_to_wire(state: WorkerState) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {"t": "state", "name": state.name, "state": state.state, "since": when(state.since),
            "reason": state.reason, "failures": state.failures,
            "retry_at": when(state.retry_at), "last_ok": when(state.last_ok)}


def state_from_wire(data: Mapping[str, Any]) -> WorkerState:
    def when(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return WorkerState(str(data["name"]), str(data["state"]), when(data.get("since")) or
                       datetime.now(UTC), str(data.get("reason") or ""),
                       int(data.get("failures") or 0), when(data.get("retry_at")),
                       when(data.get("last_ok")))


def secrets_for(accounts: Sequence[AccountSettings],
                env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The accounts' ``password_env`` variables as set here now (None: not set)."""
    env = os.environ if env is None else env
    return {a.password_env: env.get(a.password_env) for a in accounts if a.password_env}


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())[:300]


# --------------------------------------------------------------------------------------------
# One child


@dataclass(slots=True)
class _Job:
    on_progress: ProgressCallback
    done: asyncio.Future[SyncSummary]


class _Child:
    """One sync process, the thread reading its lines and the one keeping its stderr's tail.

    The lines are read and decoded on a thread (blocking reads) and handled on the loop that
    started the child, in the order written."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: the reason line, once the process has ended and every line of it was handled
        self.ended: asyncio.Future[str] = loop.create_future()
        self.jobs: dict[int, _Job] = {}
        #: (events callback, supervisor) of the watch running in it
        self.watcher: tuple[ProgressCallback, Supervisor] | None = None
        self.mirrored: dict[str, WorkerState] = {}
        self.users = 0
        self._stderr: deque[str] = deque(maxlen=20)
        self.proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(env), close_fds=True,
        )
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True,
                                            name=f"tlsrpt-sync-{self.proc.pid}-err")
        self._out_thread = threading.Thread(target=self._read_stdout, daemon=True,
                                            name=f"tlsrpt-sync-{self.proc.pid}")
        self._err_thread.start()
        self._out_thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: Mapping[str, Any]) -> None:
        """One command; a child that is gone is not an error here (``ended`` says why)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Close its stdin (it releases its leases and exits), killed after ``timeout``.
        Blocks: call it on a thread from a loop."""
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # -- the reader threads -----------------------------------------------------------------

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = _one_line(raw.decode("utf-8", "replace"))
            if line:
                self._stderr.append(line)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                self._stderr.append(_one_line(raw.decode("utf-8", "replace")))
                continue
            if isinstance(message, dict):
                self._post(self._handle, message)
        code = self.proc.wait()
        self._err_thread.join(STOP_SECONDS)
        self._post(self._finish, code)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self.loop.call_soon_threadsafe(fn, *args)

    # -- on the loop --------------------------------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        try:
            if kind == "event":
                job = self.jobs.get(message.get("job"))  # type: ignore[arg-type]
                if job is not None:
                    job.on_progress(event_from_wire(message))
                elif message.get("job") is None and self.watcher is not None:
                    self.watcher[0](event_from_wire(message))
            elif kind == "state" and self.watcher is not None:
                state = state_from_wire(message)
                self.mirrored[state.name] = state
                self.watcher[1].show(state)
            elif kind in ("done", "failed"):
                job = self.jobs.pop(message.get("job"), None)  # type: ignore[arg-type]
                if job is not None and not job.done.done():
                    if kind == "done":
                        job.done.set_result(summary_from_wire(message["summary"]))
                    else:
                        job.done.set_exception(SyncFailed(str(message.get("error"))))
            elif kind == "fatal":
                self._stderr.append(_one_line(str(message.get("error"))))
        except Exception as exc:  # a display problem must not stop the others' lines
            self._stderr.append(f"could not handle a line of the sync process: {exc!r}")

    def _finish(self, code: int) -> None:
        reason = self.reason(code)
        for job in self.jobs.values():
            if not job.done.done():
                job.done.set_exception(SyncProcessEnded(reason))
        self.jobs.clear()
        if self.watcher is not None:  # its folder watchers ended with it
            for state in self.mirrored.values():
                if state.state != "stopped":
                    self.watcher[1].show(replace(state, state="stopped"))
        if not self.ended.done():
            self.ended.set_result(reason)

    def reason(self, code: int) -> str:
        how = f"exit code {code}"
        if code < 0:
            with contextlib.suppress(ValueError):
                how = f"killed by {signal.Signals(-code).name}"
        line = f"the sync process ended ({how})"
        last = next((s for s in reversed(self._stderr) if s), "")
        return f"{line}: {last}" if last and code != 0 else line


# --------------------------------------------------------------------------------------------
# The TUI's side


class SyncProcess:
    """Runs the TUI's syncs in a child process over the store at ``location``.

    One child at a time serves the watch and any manual syncs; it is started when first
    needed and told to stop when nothing uses it any more (``close`` stops it from outside a
    loop). ``niceness``: how much nicer than the TUI it runs, so the screen gets the CPU
    first."""

    def __init__(self, location: StoreLocation, *, niceness: int = 10,
                 python: str | None = None) -> None:
        self.location = location
        self.niceness = niceness
        self.python = python or sys.executable
        self._child: _Child | None = None
        self._jobs = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The running child's process id (None when there is none)."""
        child = self._child
        return child.pid if child is not None and not child.ended.done() else None

    def _environment(self, accounts: Sequence[AccountSettings]) -> dict[str, str]:
        """This process's environment without the secrets (they go over the pipe)."""
        hidden = {a.password_env for a in accounts if a.password_env}
        password = self.location.password
        return {k: v for k, v in os.environ.items()
                if k not in hidden and not (password and v == password)}

    def _spawn(self, accounts: Sequence[AccountSettings]) -> _Child:
        # -P: the working directory is not put on sys.path (a tlsrpt_tui/ there must not
        # be the one the child runs)
        argv = [self.python, "-P", "-m", WORKER_MODULE, "--nice", str(self.niceness),
                "--parent", str(os.getpid())]
        child = _Child(argv, self._environment(accounts), asyncio.get_running_loop())
        child.send({"op": "open", "store": location_to_wire(self.location)})
        return child

    @contextlib.asynccontextmanager
    async def _using(self, accounts: Sequence[AccountSettings]) -> AsyncIterator[_Child]:
        """The running child (started if there is none); stopped when its last user leaves."""
        child = self._child
        if child is None or child.ended.done():
            child = self._child = self._spawn(accounts)
        child.users += 1
        try:
            yield child
        finally:
            child.users -= 1
            if child.users == 0:
                if self._child is child:
                    self._child = None
                await asyncio.shield(asyncio.to_thread(child.stop))

    @staticmethod
    def _command(op: str, accounts: Sequence[AccountSettings], resolver: str | None,
                 **extra: Any) -> dict[str, Any]:
        return {"op": op, "accounts": [account_to_wire(a) for a in accounts],
                "env": secrets_for(accounts), "resolver": resolver, **extra}

    async def sync_all(self, accounts: Sequence[AccountSettings], on_progress: ProgressCallback,
                       resolver: str | None = None) -> SyncSummary:
        """One pass over every folder (``service.sync.sync_all`` in the child); its events
        come to ``on_progress`` on this loop. Raises SyncProcessEnded / SyncFailed."""
        async with self._using(accounts) as child:
            job = next(self._jobs)
            done: asyncio.Future[SyncSummary] = asyncio.get_running_loop().create_future()
            if child.ended.done():
                raise SyncProcessEnded(child.ended.result())
            child.jobs[job] = _Job(on_progress, done)
            child.send(self._command("sync", accounts, resolver, job=job))
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                child.jobs.pop(job, None)
                child.send({"op": "cancel", "job": job})
                raise

    async def watch(self, accounts: Sequence[AccountSettings], on_progress: ProgressCallback,
                    supervisor: Supervisor | None = None, resolver: str | None = None) -> None:
        """Keep every folder in sync (``service.sync.watch`` in the child) until cancelled.

        The child runs as the supervised worker PROCESS_WORKER of ``supervisor``: a child
        that ends, for whatever reason, is replaced after a backoff, and the worker shows
        "retrying since T: <how it ended>" meanwhile."""
        sup = supervisor or Supervisor()

        async def body(handle: Handle) -> None:
            async with self._using(accounts) as child:
                child.watcher = (on_progress, sup)
                try:
                    child.send(self._command("watch", accounts, resolver))
                    try:
                        reason = await asyncio.wait_for(asyncio.shield(child.ended),
                                                        STABLE_SECONDS)
                    except TimeoutError:
                        handle.ok()
                        reason = await asyncio.shield(child.ended)
                    raise SyncProcessEnded(reason)
                finally:
                    if not child.ended.done():
                        child.send({"op": "unwatch"})
                        child.watcher = None

        task = sup.spawn(PROCESS_WORKER, body)
        try:
            await asyncio.shield(task)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def close(self) -> None:
        """Stop the child if one still runs (blocks up to STOP_SECONDS, then kills it): for
        the end of the program, once its loop has stopped."""
        child, self._child = self._child, None
        if child is not None and child.proc.poll() is None:
            child.stop()
