"""``python -m tlsrpt_tui.service.sync_worker``: the TUI's sync process (service/sync_process.py).

It reads commands on stdin and writes what happens on stdout, one JSON object per line:

- first ``{"op": "open", "store": ...}``, answered ``{"t": "ready"}``;
- ``{"op": "watch", "accounts", "env", "resolver"}``: keep every folder in sync
  (``service.sync.watch``, under a Supervisor whose states are written as ``{"t": "state"}``;
  a new ``watch`` replaces the one running, ``{"op": "unwatch"}`` ends it);
- ``{"op": "sync", "job", ...}``: one ``service.sync.sync_all``, answered ``{"t": "done",
  "job", "summary"}`` or ``{"t": "failed", "job", "error"}``; ``{"op": "cancel", "job"}``;
- ``env``: the values of the accounts' ``password_env`` variables, set here before the
  command runs (they are not in this process's environment as started).

Events of either are written as ``{"t": "event", "job": null | job}``. It ends, releasing its
leases, when stdin closes, on SIGTERM or SIGHUP, or when its parent dies. Nothing else may write
to stdout: logging goes nowhere (the TUI shows what it is sent) and ``print`` goes to stderr,
whose last lines the TUI shows if this process fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

from tlsrpt_tui.service.orphans import die_with_parent
from tlsrpt_tui.service.supervise import Supervisor, describe
from tlsrpt_tui.service.sync_process import (
    account_from_wire,
    event_to_wire,
    location_from_wire,
    state_to_wire,
    summary_to_wire,
)

#: Longest command line accepted on stdin (an account list is a few KiB).
MAX_LINE = 16 * 1024 * 1024


class Worker:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.stop = asyncio.Event()
        self.store: Any = None
        self.sync: Any = None  # service.sync, imported once niced
        self.watching: asyncio.Task[None] | None = None
        self.jobs: dict[int, asyncio.Task[None]] = {}
        self._dkim: dict[str | None, Any] = {}

    def send(self, message: Mapping[str, Any]) -> None:
        try:
            self.out.write(json.dumps(message).encode() + b"\n")
            self.out.flush()
        except (OSError, ValueError):  # the TUI is gone: stop
            self.stop.set()

    def _events(self, job: int | None) -> Callable[[Any], None]:
        return lambda event: self.send(event_to_wire(event, job))

    def _checker(self, resolver: str | None) -> Any:
        """The DKIM checker for arriving mail: one per resolver, so its key cache lasts."""
        if resolver not in self._dkim:
            from tlsrpt_tui.service.dkim import checker_for

            self._dkim[resolver] = checker_for(resolver)
        return self._dkim[resolver]

    async def serve(self, stdin: IO[bytes]) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stop.set)
        reader = asyncio.StreamReader(limit=MAX_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        hello = await reader.readline()
        if not hello:
            return 0
        from tlsrpt_tui.service import sync
        from tlsrpt_tui.store.database import Store

        self.sync = sync
        try:
            # opened (and migrated) off the loop; sync.watch/sync_all only name it: their
            # writer and lease threads open connections of their own
            location = location_from_wire(json.loads(hello)["store"])
            self.store = await asyncio.to_thread(Store, location)
        except Exception as exc:
            self.send({"t": "fatal", "error": f"{type(exc).__name__}: {exc}"})
            return 1
        self.send({"t": "ready", "pid": os.getpid()})
        commands = asyncio.create_task(self._commands(reader))
        stopping = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({commands, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [t for t in (commands, stopping, self.watching, *self.jobs.values())
                     if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # leases are released
            await asyncio.to_thread(self.store.close)
        return 0

    async def _commands(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                self._command(json.loads(line))
            except Exception as exc:  # a bad line is reported; the others still run
                self.send({"t": "fatal", "error": f"bad command: {type(exc).__name__}: {exc}"})

    def _command(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        for name, value in (message.get("env") or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if op == "watch":
            accounts = [account_from_wire(a) for a in message["accounts"]]
            previous = self.watching
            self.watching = asyncio.create_task(
                self._watch(previous, accounts, message.get("resolver")))
        elif op == "unwatch" and self.watching is not None:
            self.watching.cancel()
            self.watching = None
        elif op == "sync":
            job = int(message["job"])
            accounts = [account_from_wire(a) for a in message["accounts"]]
            self.jobs[job] = asyncio.create_task(
                self._sync_all(job, accounts, message.get("resolver")))
        elif op == "cancel":
            task = self.jobs.pop(int(message["job"]), None)
            if task is not None:
                task.cancel()

    async def _watch(self, previous: asyncio.Task[None] | None, accounts: list[Any],
                     resolver: str | None) -> None:
        if previous is not None:
            previous.cancel()
            await asyncio.gather(previous, return_exceptions=True)
        supervisor = Supervisor(on_change=lambda s: self.send(state_to_wire(s)))
        await self.sync.watch(self.store, accounts, on_progress=self._events(None),
                              supervisor=supervisor, dkim=self._checker(resolver))

    async def _sync_all(self, job: int, accounts: list[Any], resolver: str | None) -> None:
        try:
            summary = await self.sync.sync_all(self.store, accounts,
                                               on_progress=self._events(job),
                                               dkim=self._checker(resolver))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.send({"t": "failed", "job": job, "error": describe(exc)})
        else:
            self.send({"t": "done", "job": job, "summary": summary_to_wire(summary)})
        finally:
            self.jobs.pop(job, None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tlsrpt_tui.service.sync_worker")
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("--parent", type=int, default=0)
    args = ap.parse_args(argv)
    if args.nice > 0:  # before anything heavy is imported: the screen's CPU comes first
        with contextlib.suppress(OSError):
            os.nice(args.nice)
    die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the TUI decides when this ends
    logging.getLogger("tlsrpt_tui").addHandler(logging.NullHandler())
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not break the protocol
    return asyncio.run(Worker(out).serve(sys.stdin.buffer))


if __name__ == "__main__":
    raise SystemExit(main())
