"""The change feed: hear at once that another program committed something a TUI shows.

PostgreSQL: the statement triggers of migration 008 send ``NOTIFY tlsrpt_tui_changes`` (payload:
the table) inside every transaction that writes inputs, reports, check results, alerts, their
delivery, the alert engine's conditions or IMAP positions. PostgreSQL delivers it when, and
only if, that transaction commits, to every connection that ``LISTEN``\\ s, on any machine: a
TUI elsewhere re-reads within a moment of the commit instead of at its next poll. SQLite has no
such thing: ``wait`` only sleeps, and the reader polls ``Store.data_version`` as before (which
is also the fallback while the feed's connection is down).

One ``ChangeFeed`` holds one listening connection of its own and is used from one thread.
"""

from __future__ import annotations

import time

from tlsrpt_tui.store.database import Store

CHANNEL = "tlsrpt_tui_changes"
#: After the first notification, this long to gather the rest of a burst (a sync commits
#: several batches a second): one refresh for all of them.
COALESCE = 0.3


class ChangeFeed:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._listener: Store | None = None

    @property
    def live(self) -> bool:
        """True when the store announces its commits (PostgreSQL)."""
        return getattr(self.store, "dialect", "sqlite") == "postgresql"

    def wait(self, timeout: float) -> set[str]:
        """Block up to ``timeout`` seconds for a commit by any connection; the tables it (and
        its burst) changed, or an empty set. Raises the driver's error when the connection
        dropped (the next call connects again)."""
        if not self.live:
            time.sleep(timeout)
            return set()
        try:
            if self._listener is None:
                self._listener = self.store.reopen()
                self._listener.conn.execute(f"LISTEN {CHANNEL}")
            raw = self._listener.conn.raw  # type: ignore[attr-defined]
            tables = {n.payload for n in raw.notifies(timeout=timeout, stop_after=1)}
            if tables:
                tables |= {n.payload for n in raw.notifies(timeout=COALESCE)}
        except Exception:
            self.close()
            raise
        return tables

    def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.close()
