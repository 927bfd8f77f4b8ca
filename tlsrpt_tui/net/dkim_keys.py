"""DKIM public keys from DNS (``selector._domainkey.domain`` TXT), through our resolver, cached.

Lookups go through :class:`tlsrpt_tui.net.dns.Resolver`, so ``[checks] resolver`` applies to
DKIM too (a validating resolver of the admin's choosing, not whatever dkimpy would pick).
Each key is cached for its record's TTL (at least a minute, at most a day): a sync of a
thousand Google reports asks DNS once. A missing key is remembered for five minutes, a failed
lookup for ten seconds (so a DNS hiccup is retried soon but a burst of mail does not repeat
it). Concurrent requests for one key share one lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from tlsrpt_tui.core.dkim import KeyRecord
from tlsrpt_tui.net.dns import Answer, Missing, Resolver

MIN_TTL = 60.0
MAX_TTL = 86400.0
MISSING_TTL = 300.0
FAILED_TTL = 10.0


class KeyCache:
    """Key records by DNS name, fetched on demand; at most ``max_entries`` kept."""

    def __init__(self, resolver: Resolver, *, timeout: float = 5.0,
                 max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.resolver = resolver
        self.clock = clock  # seconds, monotonic (a test moves it past a TTL)
        self.timeout = timeout
        self.max_entries = max_entries
        self.lookups = 0  # DNS queries sent (for tests and the bench)
        self._cache: OrderedDict[str, tuple[float, KeyRecord]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[KeyRecord]] = {}

    async def get_many(self, names: Iterable[str]) -> dict[str, KeyRecord]:
        """Every named key, looked up concurrently where not cached."""
        wanted = sorted(set(names))
        records = await asyncio.gather(*(self.get(name) for name in wanted))
        return dict(zip(wanted, records, strict=True))

    def cached(self, names: Iterable[str]) -> dict[str, KeyRecord] | None:
        """Every named key from the cache, without waiting for anything; None when any is
        not cached or has expired (``get_many`` then looks it up).

        Why: a process verifying thousands of mails signed with a few keys would otherwise run
        an event loop turn per mail just to find them cached."""
        now = self.clock()
        out: dict[str, KeyRecord] = {}
        for name in names:
            hit = self._cache.get(name)
            if hit is None or hit[0] <= now:
                return None
            out[name] = hit[1]
        return out

    async def get(self, name: str) -> KeyRecord:
        now = self.clock()
        hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(name)
            return hit[1]
        pending = self._inflight.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[KeyRecord] = asyncio.get_running_loop().create_future()
        self._inflight[name] = future
        try:
            record, ttl = await self._lookup(name)
            self._remember(name, record, ttl)
            future.set_result(record)
            return record
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[name]

    async def _lookup(self, name: str) -> tuple[KeyRecord, float]:
        self.lookups += 1
        outcome = await self.resolver.lookup(name, "TXT", timeout=self.timeout)
        if isinstance(outcome, Answer):
            texts = [b"".join(r.strings) for r in outcome.records]
            # One key per name (RFC 6376 §3.6.2.2); prefer the record that has a p= tag.
            text = next((t for t in texts if b"p=" in t), texts[0] if texts else b"")
            ttl = float(outcome.ttl) if outcome.ttl is not None else MIN_TTL
            return KeyRecord(text=text), min(MAX_TTL, max(MIN_TTL, ttl))
        if isinstance(outcome, Missing):
            return KeyRecord(missing=True), MISSING_TTL
        return KeyRecord(failure=outcome.reason), FAILED_TTL

    def _remember(self, name: str, record: KeyRecord, ttl: float) -> None:
        self._cache[name] = (self.clock() + ttl, record)
        self._cache.move_to_end(name)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def forget(self, name: str) -> None:
        """Drop one key from the cache (the next request asks DNS again)."""
        self._cache.pop(name, None)
