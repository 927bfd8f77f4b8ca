"""What the screens need from the rest of the program, as one injected async service.

The app is given an object with these methods (``service.backend.StoreBackend`` in the
program, anything shaped like it in a test or a benchmark) and hands it to the screens that
read data. Every call is awaited: the implementation runs store work off the event loop and
returns plain data (service/core dataclasses), so the loop only draws and reads keys, and no
module under ui/ imports the store or sqlite3 (tests/test_import_hygiene.py checks it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tlsrpt_tui.core import tables
    from tlsrpt_tui.core.findings import DomainStatus
    from tlsrpt_tui.service.backend import (
        KeysChunk,
        RawInputView,
        ReportDetail,
        StoredCheck,
        TimedCheck,
    )
    from tlsrpt_tui.service.config import AccountSettings, CheckSettings
    from tlsrpt_tui.service.queries import (
        DayTotal,
        InboxRow,
        TableFilter,
        TableTotal,
        UnreadableInput,
    )


class ReportService(Protocol):
    """The data and actions of the TUI; every method runs its store work off the loop."""

    # inbox
    async def inbox_page(self, limit: int, text_filter: str = "",
                         after: tuple[str, int] | None = None,
                         oldest_first: bool = False) -> list[InboxRow]: ...
    async def unreadable(self, limit: int = 100, *,
                         other: bool = False) -> list[UnreadableInput]: ...
    async def is_empty(self) -> bool: ...

    # 30-day charts
    async def domain_charts(self, domains: Sequence[str], today: date, days: int = 30,
                            unconfigured: int = 5) -> list[tuple[str, list[DayTotal]]]: ...
    async def forged_count(self, since: date, until: date) -> int: ...

    # one report
    async def report(self, report_pk: int) -> ReportDetail | None: ...
    async def raw_input(self, input_pk: int) -> RawInputView | None: ...

    # the Overview and Policy Summary ("overview" | "policies")
    def table_keys(self, kind: str, flt: TableFilter,
                   chunk: int = ...) -> AsyncIterator[KeysChunk]: ...
    async def table_total(self, kind: str, flt: TableFilter, *,
                          include_forged: bool = True) -> TableTotal: ...
    async def table_rows(self, kind: str, keys: Sequence[int]) -> list[tables.Row]: ...
    async def forged_reports(self, report_pks: Sequence[int]) -> set[int]: ...
    async def export_table(self, kind: str, flt: TableFilter, fmt: str, path: Path,
                           overwrite: bool = False) -> int: ...
    async def export_inbox(self, text_filter: str, fmt: str, path: Path,
                           overwrite: bool = False) -> int: ...

    # live checks
    async def stored_checks(self, domains: Sequence[str]) -> dict[str, StoredCheck]: ...
    async def check_domain(self, domain: str,
                           settings: CheckSettings) -> tuple[DomainStatus,
                                                             DomainStatus | None]: ...
    async def timed_check(self, domain: str, settings: CheckSettings, interval: float,
                          lease_seconds: float) -> TimedCheck: ...

    # enforce readiness and the records to publish
    async def readiness(self, domains: Sequence[str] | None, today: date,
                        days: int = 30) -> list[Any]: ...
    async def records(self, domain: str, mode: str | None, settings: CheckSettings,
                      now: datetime, *, live: bool = True) -> Any: ...

    # alerts, and what other processes (``watch``) store
    async def recent_alerts(self, limit: int = 200) -> list[Any]: ...
    async def failing_channels(self) -> dict[str, dict[str, Any]]: ...
    async def data_version(self) -> int: ...
    async def wait_for_change(self, timeout: float) -> bool: ...

    # IMAP (``resolver``: [checks] resolver, which the DKIM check of arriving mail uses)
    async def sync_all(self, accounts: Sequence[AccountSettings],
                       on_progress: Callable[[Any], None],
                       resolver: str | None = None) -> Any: ...
    async def watch(self, accounts: Sequence[AccountSettings],
                    on_progress: Callable[[Any], None], supervisor: Any = None,
                    resolver: str | None = None) -> None: ...
