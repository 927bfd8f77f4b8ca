#!/usr/bin/env python3
"""Regenerate screenshots/*.svg from the real app running on the bundled demo data.

Run from the repository root: ``.venv/bin/python scripts/screenshots.py``. The clock is pinned
so the pictures only change when the UI does; the README embeds them.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tlsrpt_tui.demo.store import build_demo_store, demo_config  # noqa: E402
from tlsrpt_tui.ui.app import TlsrptApp  # noqa: E402

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
END = date(2026, 5, 31)
SIZE = (120, 36)

#: file name → keys pressed from the dashboard (and the terminal size, when not SIZE)
SHOTS: dict[str, list[str]] = {
    "dashboard": [],
    # the same dashboard on a small and a big terminal: one line per domain below 100 columns
    "dashboard-80x24": [],
    "dashboard-200x60": [],
    "report": ["down", "down", "down", "down", "enter"],
    "failures": ["down", "down", "down", "down", "enter", "enter"],
    # Tab to example.net's card: its findings in full (fix, result type, what changed)
    "findings": ["tab", "tab", "tab", "enter"],
    "overview": ["o"],  # newest first, the counts beside the date, the Total docked
    # F: every failure detail across reports, newest first (Enter: that failure in its report)
    "failures-table": ["F"],
    "policy-summary": ["p"],
    # Tab to example.org's card (testing mode): its readiness, and its records for enforce
    "readiness": ["tab", "tab", "tab", "tab", "R"],
    "records": ["tab", "tab", "tab", "tab", "D", "m"],
    "alerts": ["a"],  # newest first, delivery per channel, the highlighted one in full
    # the forged "Google" report (inbox row 8: ✗, struck through): its DKIM FAIL line
    "forged": ["down"] * 8 + ["enter"],
}
SIZES = {"dashboard-80x24": (80, 24), "dashboard-200x60": (200, 60)}


async def shoot(store_path: Path, name: str, keys: list[str], out: Path) -> None:
    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.store.database import Store

    store = Store(store_path)
    app = TlsrptApp(StoreBackend(store), demo_config(), demo=True, clock=lambda: NOW)
    try:
        async with app.run_test(size=SIZES.get(name, SIZE)) as pilot:
            await settle(pilot)
            for key in keys:  # each screen reads through the service in workers
                await pilot.press(key)
                await settle(pilot)
            app.save_screenshot(filename=f"{name}.svg", path=str(out))
    finally:
        store.close()


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(20):
        await pilot.pause()
        busy = [w for w in pilot.app.workers if not w.is_finished]
        if not busy:
            break
        await pilot.app.workers.wait_for_complete(busy)
    await pilot.pause()


def main() -> int:
    out = REPO / "screenshots"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.sqlite3"
        store, _summary = build_demo_store(path, end=END, now=NOW)
        store.close()
        for name, keys in SHOTS.items():
            asyncio.run(shoot(path, name, keys, out))
            print(f"screenshots/{name}.svg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
