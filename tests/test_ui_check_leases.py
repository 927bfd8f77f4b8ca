"""The TUI's timed checks share the domains with the ``watch`` processes on the same store
(SQLite and a real PostgreSQL): a domain whose check lease another worker holds, or that
another worker checked less than an interval ago, is not checked again by the TUI, whose card
shows the stored result and who has it; a free, due domain is checked by the TUI under the
lease. ``r`` still checks at once."""

from __future__ import annotations

from datetime import UTC, datetime

from peers.postgres import free_port
from tui_helpers import settle

from tlsrpt_tui.core.findings import DomainStatus
from tlsrpt_tui.service.backend import StoreBackend
from tlsrpt_tui.service.config import CheckSettings, Config
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store import leases
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.app import TlsrptApp
from tlsrpt_tui.ui.screen_text import screen_text

HELD, FRESH, FREE = "held.lease.test", "fresh.lease.test", "free.lease.test"
WATCHER = "watch-host.example:4242:abcd"
WHO = "watch-host.example:4242"  # what a lease says of its holder


def rows(store: Store, domain: str) -> int:
    return int(store.conn.execute("SELECT count(*) FROM check_results WHERE domain = ?",
                                  (domain,)).fetchone()[0])


async def test_timed_checks_leave_leased_and_fresh_domains_to_the_other_workers(db_location):
    with Store(db_location) as watcher, Store(db_location) as tui_store:
        # a watch process is checking HELD right now, and checked FRESH a minute ago
        assert leases.try_acquire(watcher, f"check:{HELD}", "check", WATCHER, 600)[0]
        checked = datetime.now(UTC).replace(microsecond=0).isoformat()
        check_store.save(watcher, DomainStatus(FRESH, checked, "ok", {}, []).to_json())
        config = Config(domains=(HELD, FRESH, FREE), checks=CheckSettings(
            # nobody answers there: FREE's check fails fast, which is not the point
            resolver=f"127.0.0.1:{free_port()}", timeout=1, probe=False))
        app = TlsrptApp(StoreBackend(tui_store), config)
        app.NOTIFICATION_TIMEOUT = 120
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(400):
                await pilot.pause(0.05)
                if not app._checking:
                    break
            await settle(pilot)
            assert not app._checking
            text = screen_text(app)
            # HELD and FRESH: left to the watcher, shown with who has them
            assert app.state.check(HELD).note == f"checked by {WHO}"
            assert app.state.check(FRESH).note == "checked by another worker"
            assert app.state.check(FRESH).status is not None
            assert f"checked by {WHO}" in text
            # FREE: checked by the TUI itself (its result, or its failure, is on the card)
            free = app.state.check(FREE)
            assert free.note == "" and (free.status is not None or free.error is not None)
            # the TUI stored no check of HELD (leased) nor of FRESH (checked a minute ago)
            assert (rows(watcher, HELD), rows(watcher, FRESH)) == (0, 1)
            # `r`: a check now, whoever had the domain (the watcher's lease is gone by then)
            leases.release(watcher, f"check:{HELD}", WATCHER)
            await pilot.press("r")
            for _ in range(400):
                await pilot.pause(0.05)
                if not app._checking:
                    break
            assert app.state.check(FRESH).note == app.state.check(HELD).note == ""
        # and the TUI holds no check lease when it is done
        assert leases.held(watcher, "check") == []
