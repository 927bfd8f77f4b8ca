"""Enforce readiness of domains: the stored reports of a window joined with the live checks.

The CLI (``tlsrpt-tui readiness``), the TUI's readiness screen and, later, the watch service
call ``readiness``; it only reads the store (aggregates in SQL, the latest stored check of each
domain, and the check history of each failure's cause), so it is safe to run in a worker thread
beside the UI and costs no network: the live findings are those of the last ``check``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from tlsrpt_tui.core import readiness as core
from tlsrpt_tui.core.findings import DomainStatus
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store import readiness as db
from tlsrpt_tui.store.database import Store

DEFAULT_DAYS = 30


def readiness(
    store: Store,
    domains: Sequence[str] | None,
    *,
    today: date,
    days: int = DEFAULT_DAYS,
) -> list[core.Readiness]:
    """One answer per policy domain and type reported in the ``days`` days ending ``today``
    (report start dates, UTC), and one "no reports" answer per asked-for domain with none.

    ``domains``: the domains to answer for (normalised, lower-case); None or empty: every
    policy domain reported in the window.
    """
    days = max(1, days)
    since = today - timedelta(days=days - 1)
    wanted = [d.lower() for d in domains] if domains else None
    aggregates = db.policy_aggregates(store, since, today, wanted)
    failures = db.failure_aggregates(store, since, today, wanted)
    reporters = db.reporter_aggregates(store, since, today, wanted)
    names = wanted or sorted({a.domain for a in aggregates})
    statuses = {name: _latest(store, name) for name in names}
    with_policy = {a.domain for a in aggregates if a.policy_type in ("sts", "tlsa")}
    out: list[core.Readiness] = []
    for agg in aggregates:
        key = (agg.domain, agg.policy_type)
        mine = [f for f in failures if (f.domain, f.policy_type) == key]
        status = statuses.get(agg.domain)
        causes = {(f.result_type, f.mx) for f in mine} if status is not None else set()
        histories = {(rt, mx): _history(store, agg.domain, rt, mx) for rt, mx in causes}
        has_policy = agg.domain in with_policy or core.live_mode(status) is not None
        out.append(core.assess(
            agg, mine, [r for r in reporters if (r.domain, r.policy_type) == key],
            today=today, days=days, status=status, histories=histories, has_policy=has_policy,
        ))
    reported = {a.domain for a in aggregates}
    for name in names:
        if name not in reported:
            out.append(core.no_reports(name, today=today, days=days, status=statuses[name]))
    out.sort(key=core.sort_key)
    return out


def _latest(store: Store, domain: str) -> DomainStatus | None:
    row = check_store.latest(store, domain)
    return DomainStatus.from_json(row) if row is not None else None


def _history(store: Store, domain: str, result_type: str, mx: str | None) -> core.CauseHistory:
    last = db.last_check_with(store, domain, result_type, core.cause_subjects(mx, result_type))
    if last is None:
        return core.CauseHistory()
    return core.CauseHistory(last, db.next_check_after(store, domain, last))
