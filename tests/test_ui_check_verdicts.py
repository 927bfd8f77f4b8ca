"""The status panel shows the check verdicts as senders reach them (issue 9), on the screen.

Driven by Textual's Pilot with a checker returning findings built by the real catalogue; the
assertions read the rendered screen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tlsrpt_tui.core.checks.catalogue import finding, worst
from tlsrpt_tui.core.checks.dane import DaneChain, TlsaRecord, tlsa_findings
from tlsrpt_tui.core.findings import DomainStatus
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
EE = TlsaRecord(3, 1, 1, b"\x01" * 32)


def status(domain: str, findings: list, records: dict | None = None) -> DomainStatus:
    return DomainStatus(domain, NOW.isoformat(), worst(findings), records or {}, findings)


async def run_app(tmp_path: Path, results: dict[str, DomainStatus], size=(160, 40)) -> str:
    """Start the app on ``results`` (one per configured domain); the rendered screen text."""

    async def checker(domain: str):  # type: ignore[no-untyped-def]
        return results[domain], None

    store = Store(tmp_path / "s.sqlite3")
    app = TlsrptApp(StoreBackend(store), Config(domains=tuple(results)), clock=lambda: NOW,
                    checker=checker)
    try:
        async with app.run_test(size=size) as pilot:
            for _ in range(50):
                await pilot.pause(0.05)
                if not app._checking:
                    break
            await pilot.pause()
            return screen_text(app)
    finally:
        store.close()


async def test_dane_line_names_the_insecure_link(tmp_path: Path) -> None:
    mx = tlsa_findings("mx1.a.test", "secure", [EE], "", DaneChain(mx=False, domain="a.test"))
    addr = tlsa_findings(
        "m.b.test", "secure", [EE], "", DaneChain(address=False, cname="h.b.insecure.test")
    )
    text = await run_app(
        tmp_path,
        {
            "a.test": status("a.test", [finding("mx.ok", "a.test"), *mx]),
            "b.test": status("b.test", [finding("mx.ok", "b.test"), *addr]),
        },
    )
    assert "i DANE mx1.a.test: MX insecure" in text
    assert "i DANE m.b.test: A/AAAA insecure" in text




async def test_resolver_warning_tops_the_panel_once_and_dane_reads_unknown(tmp_path: Path) -> None:
    note = finding("dns.resolver-not-validating", "127.0.0.1:53", "the signed SOA of test.")
    tlsa = {"tlsa": {"mx.a.test": {"state": "unknown", "records": ["3 1 1 ab"]}}}
    results = {
        d: status(d, [note, finding("mx.ok", d)], {"tlsa": {f"mx.{d}": tlsa["tlsa"]["mx.a.test"]}})
        for d in ("a.test", "b.test")
    }
    text = await run_app(tmp_path, results)
    lines = [line.split("▕")[0].strip() for line in text.splitlines()]
    assert lines[1].startswith("! this host: the DNS resolver")  # the top line
    panel = " ".join(lines[1 : lines.index("i a.test")])
    assert "does not validate DNSSEC" in panel and "fix: set [checks] resolver" in panel
    assert text.count("! this host:") == 1  # once, not once per domain
    assert "? DANE mx.a.test: unknown" in text and "? DANE mx.b.test: unknown" in text
    assert "insecure" not in text and "Other" not in text


async def test_port25_blocked_is_one_top_line_and_hosts_read_not_checked(tmp_path: Path) -> None:
    note = finding("tls.probe-blocked", "this host", "2 MX address(es) tried on port 25")
    unchecked = {"state": "not checked"}
    results = {
        d: status(d, [finding("mx.ok", d), note], {"starttls": {f"m.{d}": unchecked}})
        for d in ("a.test", "b.test")
    }
    text = await run_app(tmp_path, results)
    assert text.count("! this host:") == 1
    assert "! this host: no MX of any checked" in text
    assert "? STARTTLS m.a.test: not checked" in text and "? STARTTLS m.b.test: not checked" in text
    assert "✗" not in text  # no domain turns red because of this host's network


async def test_help_explains_the_dane_chain_and_the_resolver_warning(tmp_path: Path) -> None:
    from tlsrpt_tui.ui.screens.help import HelpScreen

    store = Store(tmp_path / "s.sqlite3")
    app = TlsrptApp(store, Config(domains=("a.test",)), clock=lambda: NOW, demo=True)
    try:
        async with app.run_test(size=(120, 80)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            # the whole help (it scrolls: the keys come first)
            text = " ".join(str(app.screen.query_one("#help-text").render()).split())
            assert "DANE counts only as senders apply it" in text
            assert "A/AAAA records and the TLSA records must all be DNSSEC-secure" in text
            assert "a warning tops the status panel" in text
            assert "setting [checks] resolver to a validating resolver" in text
    finally:
        store.close()
