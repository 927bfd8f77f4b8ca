"""The TUI keeps running through network faults (Pilot, real faulty peers, real Dovecot).

Checks against the faulty DNS/SMTP peers, a check that cannot even start (a resolver given
as a host name), a sync refused at login and a sync whose connection drops mid-FETCH: each
becomes a card state or a notification, the app stays responsive (a key press is handled
while the faulty steps are still waiting on their timeouts, and the event loop never stalls
for long while they run), and it never exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.faulty import FaultyPeers, ImapFaultProxy, add_domain, faulty_peers  # noqa: F401
from peers.tls import TlsPeers
from peers.tlsrpt_mail import mixed

from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import AccountSettings, CheckSettings, Config
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text
from tlsrpt_tui.ui.screens.dashboard import DashboardScreen
from tlsrpt_tui.ui.screens.tables import OverviewScreen

pytestmark = pytest.mark.peers

T = 3.0
PASSWORD_ENV = "TLSRPT_TUI_FAULT_PASSWORD"
#: a screen round trip may take this long, or 3x the same app's round trip before the faults
#: (2.8 s seen with 3 xdist workers on 2 cores, 6.7 s at load 9): a loop blocked on a faulty
#: step would also be caught by the checks still running after the probe
LIMIT = 4.0
#: the longest stall of the event loop allowed while the faulty checks run. A step that waited
#: on a faulty peer synchronously would hold the loop for its whole timeout (4T); the longest
#: seen without one: 0.3 s alone, 0.9 s beside four CPU burners, 3.1 s in the whole suite on
#: three workers beside two burners (load ~5 on 2 CPUs)
STALL_LIMIT = 2 * T


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "tui.sqlite3")
    yield s
    s.close()


def messages(app: TlsrptApp) -> list[str]:
    return [n.message for n in app._notifications]


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)


async def assert_responsive(pilot, app: TlsrptApp) -> float:  # type: ignore[no-untyped-def]
    """Open the overview and go back; returns how long the round trip took."""
    start = time.monotonic()
    await pilot.press("o")
    await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen), 30)
    await pilot.press("escape")
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), 30)
    return time.monotonic() - start


async def round_trip_limit(pilot, app: TlsrptApp) -> float:  # type: ignore[no-untyped-def]
    """The round trip allowed under faults: LIMIT, or 3x this app's own before them (the
    machine's load slows both alike)."""
    return max(LIMIT, 3 * await assert_responsive(pilot, app))


async def fastest_round_trip(pilot, app: TlsrptApp, limit: float) -> float:  # type: ignore[no-untyped-def]
    """The faster of two round trips, the second only when the first is over ``limit``.

    One slow probe can be a burst of load on a shared machine (CI once saw 4.9 s against a
    4 s limit after a 1.3 s round trip before the faults; a quiet machine takes 0.8-1.4 s under
    the faults); a loop blocked on a faulty step makes both slow.
    """
    took = await assert_responsive(pilot, app)
    if took >= limit:
        took = min(took, await assert_responsive(pilot, app))
    return took


@contextlib.asynccontextmanager
async def loop_stalls() -> AsyncIterator[list[float]]:
    """Records the event loop's longest stall while the block runs (appended on exit).

    A probe round trip only sees a stall that overlaps it; a tick every 20 ms sees one anywhere
    in the block. A synchronous wait on a faulty peer holds the loop for a whole timeout.
    """
    longest = [0.0]

    async def tick() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.02)
            longest[0] = max(longest[0], time.monotonic() - before - 0.02)

    ticker = asyncio.create_task(tick())
    result: list[float] = []
    try:
        yield result
    finally:
        ticker.cancel()
        result.append(longest[0])


async def test_faulty_checks_become_card_states_and_notifications(
    faulty_peers: FaultyPeers,  # noqa: F811
    tls_peers: TlsPeers,
    store: Store,
) -> None:
    dns = faulty_peers.dns
    assert dns is not None
    healthy, dead_dns, dead_mx = "ok.tui.test", "deaddns.tui.test", "deadmx.tui.test"
    add_domain(dns, tls_peers, healthy)
    add_domain(dns, tls_peers, dead_mx, mx_address=faulty_peers.smtp["starttls-stall"])
    for name in (f"_smtp._tls.{dead_dns}", f"_mta-sts.{dead_dns}", dead_dns):
        dns.fault(name, "timeout")
    config = Config(
        domains=(healthy, dead_dns, dead_mx),
        checks=CheckSettings(
            resolver=dns.resolver, ca_file=tls_peers.ca_file, timeout=4 * T,
            allow_private_targets=True,
        ),
    )  # fmt: skip
    app = TlsrptApp(StoreBackend(store), config, live=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        limit = await round_trip_limit(pilot, app)
        started = time.monotonic()
        async with loop_stalls() as stall:
            for domain in config.domains:
                app.start_check(domain)
            # The healthy domain's card is filled while the others still wait on their timeouts.
            await wait_for(pilot, lambda: healthy in app.last_status, 3 * T)
            assert time.monotonic() - started < 3 * T
            assert dead_dns not in app.last_status and dead_mx not in app.last_status
            assert app._checking  # the faulty steps are still waiting on their timeouts …
            took = await fastest_round_trip(pilot, app, limit)  # … and the keys still work
            assert took < limit, f"a key press took {took:.2f} s while checks were running"
            assert app._checking, "the checks finished before the responsiveness probe"
            await wait_for(pilot, lambda: len(app.last_status) == 3, 30)
        assert stall[0] < STALL_LIMIT, f"the event loop stalled {stall[0]:.1f} s during the checks"
        got = {d: {f.code for f in s.findings} for d, s in app.last_status.items()}
        assert "tlsrpt.lookup-failed" in got[dead_dns] and "mx.lookup-failed" in got[dead_dns]
        assert "tls.handshake-failed" in got[dead_mx] and "tls.ok" in got[healthy]
        text = screen_text(app)
        for domain in config.domains:
            assert domain in text
        # A second round where the healthy domain's TLS-RPT lookup times out: that change is
        # notified, and the lookup failure shows as "could not check", not as "missing".
        dns.fault(f"_smtp._tls.{healthy}", "timeout")
        await pilot.press("r")
        await wait_for(pilot, lambda: any("changed since the last check" in m
                                          for m in messages(app)))  # fmt: skip
        assert "tlsrpt.lookup-failed" in {f.code for f in app.last_status[healthy].findings}
        assert app.is_running


async def test_a_check_that_cannot_start_is_a_notification(store: Store) -> None:
    config = Config(
        domains=("example.test",), checks=CheckSettings(resolver="dns.example.test", timeout=T)
    )
    app = TlsrptApp(StoreBackend(store), config, live=False)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        limit = await round_trip_limit(pilot, app)
        app.start_check("example.test")
        await wait_for(pilot, lambda: any("check failed" in m for m in messages(app)))
        note = next(m for m in messages(app) if "check failed" in m)
        assert "give an IP address" in note and "\n" not in note
        assert await fastest_round_trip(pilot, app, limit) < limit
        assert app.is_running


def _account(dovecot: Dovecot, **kw: object) -> AccountSettings:  # noqa: F811
    base: dict[str, object] = {
        "name": "tui", "host": dovecot.host, "port": dovecot.imaps_port, "security": "tls",
        "username": dovecot.user, "password_env": PASSWORD_ENV, "ca_file": str(dovecot.ca_file),
        "batch_size": 10,
    }  # fmt: skip
    base.update(kw)
    return AccountSettings(**base)  # type: ignore[arg-type]


async def test_failed_syncs_are_notifications_and_the_app_goes_on(
    dovecot: Dovecot,  # noqa: F811
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot.append_maildir(mixed(60)[0])
    flags = dovecot.flags()
    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    proxy = None
    for _ in range(10):
        try:
            address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.9"
            proxy = ImapFaultProxy(address, dovecot.imap_port).start()
            break
        except OSError:
            continue
    if proxy is None:
        pytest.fail("IMAP fault proxy could not start")
    try:
        proxy.set("drop", nth=25, keep=300)
        config = Config(accounts=(_account(dovecot),))
        app = TlsrptApp(StoreBackend(store), config, live=False)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.pause()
            limit = await round_trip_limit(pilot, app)
            # 1. login refused
            await pilot.press("s")
            await wait_for(pilot, lambda: any("login refused" in m for m in messages(app)))
            assert "not the password" not in screen_text(app)
            assert all("not the password" not in m for m in messages(app))
            assert await fastest_round_trip(pilot, app, limit) < limit
            # 2. dropped in the middle of a FETCH (through the proxy, plaintext)
            monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
            app.config = Config(accounts=(_account(
                dovecot, host=proxy.address, port=proxy.port, security="plain", ca_file=None,
            ),))  # fmt: skip
            await wait_for(pilot, lambda: not app._syncing)
            await pilot.press("s")
            await wait_for(pilot, lambda: any("connection lost" in m for m in messages(app)))
            assert proxy.fired == 1
            assert await fastest_round_trip(pilot, app, limit) < limit
            # 3. the line is back: the next sync completes what the first one left
            proxy.set("pass")
            await wait_for(pilot, lambda: not app._syncing)
            await pilot.press("s")
            await wait_for(pilot, lambda: not app._syncing and store.conn.execute(
                "SELECT last_uid FROM imap_folders").fetchone()[0] == 60)  # fmt: skip
            assert any("new report(s)" in m for m in messages(app))
            assert all(dovecot.password not in m for m in messages(app))
            assert dovecot.password not in screen_text(app)
            assert app.is_running
    finally:
        proxy.stop()
    assert dovecot.flags() == flags


async def test_plaintext_account_is_a_visible_warning(
    dovecot: Dovecot,  # noqa: F811
    store: Store,
) -> None:
    config = Config(accounts=(_account(dovecot, security="plain", port=dovecot.imap_port),))
    app = TlsrptApp(StoreBackend(store), config, live=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        warnings = [n for n in app._notifications if "unencrypted" in n.message]
        assert len(warnings) == 1 and warnings[0].severity == "warning"
        assert "tui" in warnings[0].message and "security = plain" in warnings[0].message
    tls = TlsrptApp(StoreBackend(store), Config(accounts=(_account(dovecot),)), live=False)
    async with tls.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        assert not [n for n in tls._notifications if "unencrypted" in n.message]
