"""The dashboard's and drill-downs' reads and the live check, over service/ and store/.

Widgets receive plain callables and small view dataclasses from here, so no SQL, parsing or
check logic lives in the widgets. (The two table screens call service.queries directly: their
rows are already the CLI's row dataclasses.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from tlsrpt_tui.core.findings import DomainStatus
from tlsrpt_tui.service import queries
from tlsrpt_tui.service.config import Config
from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.widgets.inbox import InboxEntry
from tlsrpt_tui.ui.widgets.totals import DomainTotal


def _day(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value or "")[:10]


class DataSource:
    """Reads for the screens; every method is a short query on the caller's thread."""

    def __init__(self, store: Store, config: Config, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    # -- inbox ---------------------------------------------------------------------------------

    def inbox_page(self, offset: int, limit: int, text_filter: str) -> Sequence[InboxEntry]:
        rows = queries.inbox_page(
            self.store, offset=offset, limit=limit, text_filter=text_filter or None
        )
        return [
            InboxEntry(
                key=f"r{r.pk}",
                date=r.date,
                organization=r.organization,
                domain=r.policy_domains,
                types=r.policy_types,
                successful=r.successful,
                failed=r.failed,
            )
            for r in rows
        ]

    def inbox_count(self, text_filter: str = "") -> int:
        return queries.inbox_count(self.store, text_filter or None)

    def unreadable(self, text_filter: str) -> Sequence[InboxEntry]:
        """Unreadable inputs (newest first, at most 100), matching the filter like reports do;
        with a filter, also the mail recorded as not a report (its From/Subject/Date match)."""
        out = []
        needle = text_filter.strip().casefold()
        found = queries.unreadable_inputs(self.store)
        if needle:  # mail recorded as not a report shows only when a filter asks for it
            found += queries.unreadable_inputs(self.store, other=True)
        for u in found:
            if needle and needle not in f"{u.source} {u.error}".casefold():
                continue
            out.append(
                InboxEntry(
                    key=f"u{u.pk}",
                    date=_day(u.imported_at),
                    organization="",
                    domain=u.source,
                    types="",
                    successful=None,
                    failed=None,
                    unreadable=u.error,
                )
            )
        return out

    def is_empty(self) -> bool:
        return self.inbox_count() == 0 and queries.unreadable_count(self.store) == 0

    # -- totals --------------------------------------------------------------------------------

    def domain_totals(self, days: int = 30, unconfigured: int = 5) -> list[DomainTotal]:
        """Sessions per day over the last `days` days for each configured domain (even with no
        reports yet). With no domain configured: the `unconfigured` reported domains with the
        most reports, so a store holding thousands of domains still draws a handful of charts.
        Totals are over the same window as the chart, so no query scans the whole store."""
        today = self.clock().astimezone(UTC).date()
        domains = list(self.config.domains)
        if not domains:
            busiest = sorted(
                queries.domain_totals(self.store), key=lambda t: (-t.reports, t.domain)
            )
            domains = [t.domain for t in busiest[:unconfigured]]
        out = []
        for domain in domains:
            daily = queries.daily_totals(self.store, domain, days, today)
            ok = tuple(d.successful for d in daily)
            bad = tuple(d.failed for d in daily)
            out.append(DomainTotal(domain, sum(ok), sum(bad), ok, bad))
        return out

    # -- one report ----------------------------------------------------------------------------

    def report(self, report_pk: int):  # type: ignore[no-untyped-def]
        """(Report, StoredInput) or None."""
        return queries.report_detail(self.store, report_pk)

    def raw_input(self, input_pk: int) -> tuple[str, str | None, bytes] | None:
        """(source, error, bytes) of a stored input, for the raw view of unreadable mail."""
        from tlsrpt_tui.store import reports as db

        meta = db.get_input(self.store, input_pk)
        payload = queries.raw_input_bytes(self.store, input_pk)
        if meta is None or payload is None:
            return None
        return meta.source, meta.error, payload

    # -- live checks ---------------------------------------------------------------------------

    def stored_checks(self) -> dict[str, tuple[Any, Any | None, datetime]]:
        """domain → (latest status, the one before, when checked), from the store."""
        from tlsrpt_tui.store import checks as stored

        out: dict[str, tuple[Any, Any | None, datetime]] = {}
        for domain in self.config.domains:
            latest = stored.latest(self.store, domain)
            if latest is None:
                continue
            prev = stored.previous(self.store, domain)
            out[domain] = (
                DomainStatus.from_json(latest),
                DomainStatus.from_json(prev) if prev else None,
                _parse_when(latest["checked_at"]),
            )
        return out

    async def check_domain(self, domain: str) -> tuple[Any, Any | None]:
        """Run the live check of one domain, store it, return (status, previous status)."""
        from tlsrpt_tui.service import checks
        from tlsrpt_tui.store import checks as stored

        last = stored.latest(self.store, domain)
        options = checks.CheckOptions.from_settings(self.config.checks)
        status = await checks.check_domain(domain, options, previous=last)
        stored.save(self.store, status.to_json())
        return status, DomainStatus.from_json(last) if last else None


    # -- readiness and records -----------------------------------------------------------------
    # The two screens' reads, kept here (one place) so the async service facade can take them.

    def readiness(self, domain: str | None, days: int = 30) -> list[Any]:
        """Blocking (SQL aggregates): call it from a worker thread, never on the loop.
        One answer per policy type of ``domain`` (every configured or reported domain if None)."""
        from tlsrpt_tui.service.readiness import readiness

        today = self.clock().astimezone(UTC).date()
        domains = [domain] if domain else (list(self.config.domains) or None)
        return readiness(self.store, domains, today=today, days=days)

    async def records(self, domain: str, mode: str | None = None, *, live: bool = True) -> Any:
        """The records to publish: from a live check (the config's [checks]), or with
        ``live=False`` from the last stored check, read in a thread (None if never checked)."""
        import asyncio

        from tlsrpt_tui.service import records

        if live:
            from tlsrpt_tui.service.checks import CheckOptions

            options = CheckOptions.from_settings(self.config.checks)
            return await records.generate(domain, options, mode=mode, now=self.clock())
        return await asyncio.to_thread(
            records.from_stored, self.store, domain, mode=mode, now=self.clock())


def _parse_when(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)
