"""``tlsrpt-tui receive --listen HOST:PORT``: accept reports POSTed to an ``https:`` rua.

Options override the config's ``[receiver]`` section. Prints where it listens, then one line
per request on stderr (client, status, reason); runs until SIGINT/SIGTERM and exits 0. Exit 2
when it cannot start (bad address, certificate, port in use, unusable store or config).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys

from tlsrpt_tui.core.terminal_text import visible
from tlsrpt_tui.service.config import ConfigError, load_config

HELP = "receive TLS-RPT reports by HTTPS POST (RFC 8460 rua=https:...)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="address to listen on (default: [receiver] listen)")
    parser.add_argument("--path", metavar="PATH",
                        help="URL path reports are POSTed to (default /tlsrpt)")
    parser.add_argument("--tls-cert", metavar="PEM", help="certificate chain (PEM) for HTTPS")
    parser.add_argument("--tls-key", metavar="PEM",
                        help="private key (PEM) of --tls-cert (default: in the same file)")
    parser.add_argument(
        "--trusted-proxy", action="append", metavar="ADDR[/BITS]",
        help="reverse proxy whose X-Forwarded-For is believed (repeatable)",
    )
    parser.add_argument(
        "--rate-limit", type=int, metavar="N",
        help="requests per minute per client before 429 (default 60; 0: no limit)",
    )


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.commands.import_cmd import open_store_arg
    from tlsrpt_tui.service.receiver import ReceiverError, serve

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"tlsrpt-tui receive: {exc}", file=sys.stderr)
        return 2
    settings = config.receiver
    overrides = {
        "listen": args.listen,
        "path": args.path,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "trusted_proxies": tuple(args.trusted_proxy) if args.trusted_proxy else None,
        "rate_limit": args.rate_limit,
    }
    settings = dataclasses.replace(
        settings, **{k: v for k, v in overrides.items() if v is not None}
    )
    if settings.rate_limit < 0:
        print("tlsrpt-tui receive: --rate-limit must be 0 or more", file=sys.stderr)
        return 2
    if not settings.listen:
        print("tlsrpt-tui receive: give --listen HOST:PORT (or [receiver] listen in the config)",
              file=sys.stderr)
        return 2
    store = open_store_arg(args)  # fail early (and migrate) before binding the port
    if store is None:
        return 2
    store.close()
    db_path = store.location

    def listening(server) -> None:  # type: ignore[no-untyped-def]
        for url in server.urls:
            print(f"listening on {url}{settings.path}", flush=True)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        try:
            await serve(
                db_path, settings,
                on_event=lambda e: print(visible(e.line()), file=sys.stderr, flush=True),
                on_listening=listening,
            )
        except ReceiverError as exc:
            print(f"tlsrpt-tui receive: {exc}", file=sys.stderr)
            return 2
        except asyncio.CancelledError:
            return 0
        return 0

    return asyncio.run(main())
