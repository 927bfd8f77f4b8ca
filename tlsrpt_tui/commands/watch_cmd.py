"""``tlsrpt-tui watch``: run the monitor as a service (checks, IMAP IDLE, alerts).

Runs until SIGTERM or SIGINT, then stops what is in flight and exits 0. ``--once`` runs one
round (every check, one sync of every folder, every alert due) and exits (0, or 1 when
something failed), for cron. Exit 2 on a config or store error, with one line naming the file,
key and reason; a store merely locked by another process, or whose PostgreSQL server cannot be
reached yet, is waited for (logged, in the metrics), not an error. One
plain log line per event on stderr (journald-friendly, no colour). Network,
IMAP, SMTP, DNS and store errors never end it: they are logged, retried and become alerts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
import time
from typing import Any

from tlsrpt_tui.service.config import Config, ConfigError, load_config
from tlsrpt_tui.store.database import Store, StoreError, open_store

HELP = "run as a service: live checks, IMAP IDLE sync and alerts by mail/webhook"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--once", action="store_true",
                        help="one round (checks, one sync, alerts due), then exit: for cron")
    parser.add_argument("--metrics", metavar="HOST:PORT",
                        help="serve Prometheus metrics on this address")
    parser.add_argument("--verbose", action="store_true", help="also log debug details")


class _PlainFormatter(logging.Formatter):
    """One line per record: control characters and line breaks of quoted text flattened."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " | "))


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PlainFormatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aioimaplib", "httpx", "httpcore", "aiosmtplib", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _check_metrics(spec: str | None) -> str | None:
    if spec is None:
        return None
    _host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--metrics {spec!r}: must be HOST:PORT")
    return spec


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.service.monitor import Monitor

    try:
        config = load_config(args.config, required=True)
        metrics = _check_metrics(args.metrics)
    except ConfigError as exc:
        print(f"tlsrpt-tui watch: {exc}", file=sys.stderr)
        return 2
    if config.is_empty and not config.alerts.channels and not config.receiver.listen:
        print(f"tlsrpt-tui watch: {config.path}: nothing to watch (no domains, no [[accounts]],"
              " no [receiver] listen)", file=sys.stderr)
        return 2
    _setup_logging(args.verbose)
    log = logging.getLogger("tlsrpt_tui.watch")
    from tlsrpt_tui.service.metrics import StoreWaitCollector, start_metrics

    waiting = StoreWaitCollector()
    switch = None
    if metrics:
        # served from the start: while the store's server is still down, it says so
        try:
            switch = start_metrics(waiting, metrics)
        except OSError as exc:
            print(f"tlsrpt-tui watch: --metrics {metrics}: {exc}", file=sys.stderr)
            return 2
        log.info("metrics on http://%s/metrics", metrics)
    store = _open_store_patiently(args, log, config, waiting)
    if store is None:
        return 2
    with store:
        monitor = Monitor(config, store)
        if switch is not None:
            switch.show_monitor(monitor)
        if args.once:
            problems = asyncio.run(monitor.run_once())
            log.info("one round done: %d problem(s)", problems)
            return 1 if problems else 0
        log.info(
            "watching %d domain(s), %d folder(s), %d alert channel(s)",
            len(config.domains), sum(len(a.folders) for a in config.accounts),
            len(config.alerts.channels),
        )
        asyncio.run(_run_until_signal(monitor))
        log.info("stopped")
    return 0


#: Waits between attempts to open a store another process holds locked, or whose server is
#: down: 1 s doubling to 1 min.
OPEN_RETRY_FIRST = 1.0
OPEN_RETRY_MAX = 60.0


def _open_store_patiently(args: argparse.Namespace, log: logging.Logger,
                          config: Config, waiting: Any = None) -> Store | None:
    """The store, waiting out a lock held by another process (an `import`, a migration), or
    a PostgreSQL server that cannot be reached yet (down, restarting, the network).

    A service started at boot must not exit because a long import holds the write lock while
    a migration is due, nor because it came up before its database server; each wait is
    logged with the reason and counted in ``waiting`` (the metrics' ``store`` worker). Every
    other store problem (not a database, no permission, a refused password) is a
    configuration error and ends it with exit 2 as before. SIGTERM while waiting exits 0.
    """
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service.store_location import resolve

    wait = OPEN_RETRY_FIRST
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            try:
                return open_store(resolve(getattr(args, "db", None), config))
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    break
                log.warning("store %s is locked by another process (%s); retrying in %.0f s",
                            args.db or "(default)", exc, wait)
            except StoreError as exc:
                if not exc.unreachable:
                    break
                log.warning("store unreachable: %s; retrying in %.0f s", exc, wait)
            except (OSError, sqlite3.Error):
                break
            if waiting is not None:
                waiting.failures += 1
            try:
                time.sleep(wait)
            except KeyboardInterrupt:
                sys.exit(0)
            wait = min(wait * 2, OPEN_RETRY_MAX)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return open_store_arg(args)  # says why, in the usual words


async def _run_until_signal(monitor) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(monitor.run())
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
