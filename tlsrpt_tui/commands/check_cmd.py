"""``tlsrpt-tui check DOMAIN...``: live checks of TLS-RPT, MTA-STS, MX, DANE and STARTTLS.

Options default to the config file's ``[checks]`` section; domains to its ``domains`` list.
``--format json`` prints a list of ``{"domain", "checked_at", "status", "records", "findings"}``.
Exit 0 when no finding is an error, 1 otherwise, 2 on usage/configuration errors. Results are
stored (when the store opens) so the TUI and the next run can say what changed.
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from tlsrpt_tui.core.checks.catalogue import HOST_CODES, no_verdict_items
from tlsrpt_tui.core.findings import DomainStatus, Finding
from tlsrpt_tui.core.terminal_text import visible

HELP = "check the live DNS/TLS set-up of domains (TLS-RPT, MTA-STS, MX, DANE, STARTTLS)"

_GLYPH = {"ok": "✓", "info": "i", "warning": "!", "error": "✗"}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 0 and 300 seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: port out of range 1-65535")
    return value


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("domains", nargs="*", metavar="DOMAIN", help="default: config domains")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    add_check_options(parser)
    parser.add_argument("--no-store", action="store_true", help="do not store the results")


def add_check_options(parser: argparse.ArgumentParser) -> None:
    """How to check (also the options of ``records``, which runs the same check)."""
    parser.add_argument("--resolver", metavar="HOST[:PORT]", help="DNS resolver to ask")
    parser.add_argument("--ca-file", metavar="PEM", help="extra trusted CA certificates")
    parser.add_argument(
        "--no-probe", action="store_true", help="skip the STARTTLS probe of port 25"
    )
    parser.add_argument("--timeout", type=_positive_float, metavar="S", help="per-step timeout")
    parser.add_argument("--smtp-port", type=_port, metavar="N", help="port to probe (25)")
    parser.add_argument("--https-port", type=_port, metavar="N", help="policy host port (443)")


def clean(text: object) -> str:
    """Untrusted text (DNS data, certificate names) with control characters made visible."""
    return visible(text)


def check_options(args: argparse.Namespace, settings, prog: str):  # type: ignore[no-untyped-def]
    """CheckOptions from the config's [checks] and the options of add_check_options; None
    after printing why when the resolver or the CA file is unusable."""
    from tlsrpt_tui.net.dns import parse_server
    from tlsrpt_tui.net.trust import TrustError, client_context, verify_store
    from tlsrpt_tui.service import checks

    options = checks.CheckOptions.from_settings(
        settings,
        resolver=args.resolver,
        ca_file=args.ca_file,
        timeout=args.timeout,
        probe=False if args.no_probe else None,
        smtp_port=args.smtp_port,
        https_port=args.https_port,
    )
    try:
        if options.resolver:
            parse_server(options.resolver)
        if options.probe:
            verify_store(options.ca_file)  # the probe's OpenSSL store (and the fetch's context)
        else:  # the policy fetch's context only: loading the roots into a store costs too
            client_context(options.ca_file)
    except (ValueError, TrustError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
    return options


def run(args: argparse.Namespace) -> int:
    from tlsrpt_tui.service import checks
    from tlsrpt_tui.service.config import ConfigError, load_config

    prog = "tlsrpt-tui check"
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    domains = list(args.domains) or list(config.domains)
    if not domains:
        print(f"{prog}: no DOMAIN given and no domains in the config file", file=sys.stderr)
        return 2
    try:
        names = [checks.normalize_domain(d) for d in domains]
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    options = check_options(args, config.checks, prog)
    if options is None:
        return 2

    store = None
    if not args.no_store:
        from tlsrpt_tui.service.store_location import resolve
        from tlsrpt_tui.store.database import StoreError, open_store

        try:
            store = open_store(resolve(getattr(args, "db", None), config))
        except (StoreError, OSError) as exc:
            print(f"{prog}: results not stored: {exc}", file=sys.stderr)
    try:
        if store is not None:
            pairs = checks.check_and_store(store, names, options)
        else:
            import asyncio

            pairs = [(s, []) for s in asyncio.run(checks.check_domains(names, options))]
    except ValueError as exc:  # e.g. no resolver configured on this system
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()

    if args.format == "json":
        sys.stdout.write(json_text([s.to_json() for s, _ in pairs]))
        sys.stdout.write("\n")
    else:
        print_host_notes([s for s, _ in pairs])
        for status, changed in pairs:
            print_status(status, changed)
    return 1 if any(s.status == "error" for s, _ in pairs) else 0


def json_text(data: object) -> str:
    """``json.dumps(data, indent=2, ensure_ascii=False)``, the same text, written by msgspec:
    the stdlib's encoder runs in Python when it indents (1,000 domains: ~0.3 s of CPU)."""
    return msgspec.json.format(msgspec.json.encode(data), indent=2).decode("utf-8")


def print_host_notes(statuses: list[DomainStatus]) -> None:
    """Findings about this host (resolver, port 25): once, above the domains they affect."""
    seen: dict[str, Finding] = {}
    for status in statuses:
        for f in status.findings:
            if f.code in HOST_CODES:
                seen.setdefault(f.code, f)
    if not seen:
        return
    out = sys.stdout
    out.write("this host\n")
    for f in seen.values():
        sev = str(f.severity)
        out.write(f"  {_GLYPH[sev]} {sev:<7} {f.code}  {clean(f.subject)}\n")
        out.write(f"      {clean(f.message)}\n")
        out.write(f"      fix: {clean(f.hint)}\n")
    out.write("\n")


def print_status(status: DomainStatus, changed: list[str]) -> None:
    """One domain's findings, worst first, with fixes and what changed (also used by `status`)."""
    out = sys.stdout
    out.write(f"{status.domain}  {str(status.status).upper()}  (checked {status.checked_at})\n")
    order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
    findings = [f for f in status.findings if f.code not in HOST_CODES]  # said above, once
    width = max((len(f.code) for f in findings), default=10)
    for f in sorted(findings, key=lambda f: (order[str(f.severity)], f.code)):
        sev = str(f.severity)
        out.write(f"  {_GLYPH[sev]} {sev:<7} {f.code:<{width}}  {clean(f.subject)}\n")
        out.write(f"      {clean(f.message)}\n")
        if f.hint and sev in ("warning", "error"):
            out.write(f"      fix: {clean(f.hint)}\n")
        if f.result_type:
            out.write(f"      senders report: {f.result_type}\n")
    for label, host, words in no_verdict_items(status.records):
        out.write(f"  ? {label} {clean(host)}: {words}\n")
    if changed:
        out.write("  since the last check:\n")
        for line in changed:
            out.write(f"    {clean(line)}\n")
    out.write("\n")
