"""Pilot helpers: wait until what the app reads through its service has arrived.

Screens read through the injected service off the event loop (in workers), so after a key the
screen changes once those workers finish. ``settle`` waits for them, and for workers they start
in turn (a report opened from a row, then its screen's own loads), but not for the long-lived
ones (a domain's live check, IMAP watching) that a test drives itself.
"""

from __future__ import annotations

import time

from textual.app import App
from textual.pilot import Pilot

from tlsrpt_tui.ui.screen_text import screen_text

LONG_LIVED = ("watch", "check:", "sync")


def _busy(app: App) -> list:  # type: ignore[type-arg]
    return [w for w in app.workers
            if not w.is_finished and not (w.group or "").startswith(LONG_LIVED)]


async def settle(pilot: Pilot, rounds: int = 20) -> None:  # type: ignore[type-arg]
    """Let messages, data loads and the repaint after them finish."""
    for _ in range(rounds):
        await pilot.pause()
        busy = _busy(pilot.app)
        if not busy:
            break
        await pilot.app.workers.wait_for_complete(busy)
    await pilot.pause()


async def press(pilot: Pilot, *keys: str) -> None:  # type: ignore[type-arg]
    """Press keys one by one, settling after each (as a user who reads the screen between)."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def text_showing(pilot: Pilot, *needles: str, timeout: float = 10.0) -> str:  # type: ignore[type-arg]
    """The screen's text once it shows every one of ``needles``, or as it is at ``timeout``
    (the caller asserts on it). Why: a repaint can still be under way after ``settle`` on a
    loaded machine (CI once read the dashboard without a card's last finding)."""
    deadline = time.monotonic() + timeout
    text = screen_text(pilot.app)
    while not all(n in text for n in needles) and time.monotonic() < deadline:
        await pilot.pause(0.05)
        text = screen_text(pilot.app)
    return text
