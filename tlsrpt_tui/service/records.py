"""The record generator's use case: one live check of a domain, then the records it needs.

The check is ``service.checks.check_domain`` itself (same resolver, CA settings, policy fetch
and STARTTLS probe as ``tlsrpt-tui check``), so the generator can never disagree with the
checks about what is published or which key an MX serves. Nothing is stored or written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tlsrpt_tui.core import records as core
from tlsrpt_tui.service.checks import CheckOptions, check_domain, normalize_domain


def new_sts_id(now: datetime) -> str:
    """A fresh ``_mta-sts`` id: the UTC time to the second (14 digits, sorts with time)."""
    return now.astimezone(UTC).strftime("%Y%m%d%H%M%S")


async def generate(
    domain: str,
    options: CheckOptions | None = None,
    *,
    rua: Sequence[str] = (),
    mode: str | None = None,
    now: datetime | None = None,
) -> core.RecordSet:
    """Check ``domain`` live and build its records; ValueError for a bad domain, rua or mode."""
    name = normalize_domain(domain)
    for uri in rua:
        reason = core.valid_uri(uri)
        if reason:
            raise ValueError(reason)
    status = await check_domain(name, options)
    return core.build(
        status.domain, status.checked_at, status.records, status.findings,
        rua=rua, mode=mode, new_id=new_sts_id(now or datetime.now(UTC)),
    )


def from_stored(store, domain: str, *, mode: str | None = None,  # type: ignore[no-untyped-def]
                now: datetime | None = None) -> core.RecordSet | None:
    """The records from the last stored check of ``domain`` (no network: the demo, or a host
    whose port 25 is blocked and whose checks run elsewhere); None if it was never checked."""
    from tlsrpt_tui.core.findings import DomainStatus
    from tlsrpt_tui.store import checks as check_store

    row = check_store.latest(store, normalize_domain(domain))
    if row is None:
        return None
    status = DomainStatus.from_json(row)
    return core.build(
        status.domain, status.checked_at, status.records, status.findings,
        mode=mode, new_id=new_sts_id(now or datetime.now(UTC)),
    )
