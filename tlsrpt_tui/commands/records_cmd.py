"""``tlsrpt-tui records DOMAIN``: the records to publish, beside what is published now.

Runs the same live check as ``check`` (resolver, CA file, policy fetch, STARTTLS probe from the
config's ``[checks]`` and the same options), then prints the ``_smtp._tls`` and ``_mta-sts``
TXT records and each MX's TLSA in zone-file syntax, and the policy file to serve. Nothing is
written anywhere (not even the store). Exit 0 when nothing needs to change, 1 when something
does (or could not be compared), 2 on usage or configuration errors.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "print the TLS-RPT, MTA-STS and TLSA records to publish, beside what is published now"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    from tlsrpt_tui.commands.check_cmd import add_check_options

    parser.add_argument("domain", metavar="DOMAIN")
    parser.add_argument("--rua", action="append", default=[], metavar="URI",
                        help="where reports go (mailto: or https:; repeat for more); "
                             "default: the published rua, else mailto:tlsrpt@DOMAIN")
    parser.add_argument("--mode", choices=("testing", "enforce"),
                        help="MTA-STS mode (default: the published one, else testing)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_check_options(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from tlsrpt_tui.commands.check_cmd import check_options, clean
    from tlsrpt_tui.core.records import describe
    from tlsrpt_tui.service.config import ConfigError, load_config
    from tlsrpt_tui.service.records import generate

    prog = "tlsrpt-tui records"
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    options = check_options(args, config.checks, prog)
    if options is None:
        return 2
    try:
        result = asyncio.run(generate(args.domain, options, rua=args.rua, mode=args.mode))
    except ValueError as exc:  # a bad domain or rua, or no resolver on this system
        print(f"{prog}: {clean(exc)}", file=sys.stderr)
        return 2
    if args.format == "json":
        json.dump(result.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for _, line in describe(result):
            print(clean(line))
    return 1 if result.changes else 0
