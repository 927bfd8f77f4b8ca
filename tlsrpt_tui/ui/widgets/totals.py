"""Per-domain totals with a 30-day success/failure chart: two bar lines per domain.

Every bar of every domain is drawn on one logarithmic scale (said under the charts), so 4
failures never look as tall as 114 and a day of thousands does not flatten the rest; the lines
are labelled ``ok`` and ``fail`` so they read without colour, a date axis runs under them, and
today's column is drawn dim as the partial day it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tlsrpt_tui.core.tables import FORGED_MARK
from tlsrpt_tui.ui import styles
from tlsrpt_tui.ui.facade import ReportService
from tlsrpt_tui.ui.live import LiveState
from tlsrpt_tui.ui.text import clean

if TYPE_CHECKING:
    from tlsrpt_tui.service.queries import DayTotal


@dataclass(frozen=True, slots=True)
class DomainTotal:
    domain: str
    successful: int
    failed: int
    daily_ok: tuple[int, ...]  # oldest first, one value per day
    daily_failed: tuple[int, ...]


def domain_total(domain: str, daily: Sequence[DayTotal]) -> DomainTotal:
    """A chart's data from the sessions per day (oldest first)."""
    ok = tuple(d.successful for d in daily)
    bad = tuple(d.failed for d in daily)
    return DomainTotal(domain, sum(ok), sum(bad), ok, bad)


BARS = "▁▂▃▄▅▆▇█"


def bar_line(values: Sequence[int], scale: int) -> str:
    """One character per value on a shared logarithmic scale (1 to `scale` sessions): a
    space for none, ▁ for one, █ for `scale`; a log scale because one day of thousands (a
    forged report) would flatten every other day of every domain on a linear one."""
    out = []
    top = math.log(scale + 1) if scale > 0 else 0.0
    for v in values:
        if v <= 0 or top <= 0:
            out.append(" ")
        else:
            level = math.ceil(math.log(v + 1) / top * len(BARS)) - 1
            out.append(BARS[max(0, min(len(BARS) - 1, level))])
    return "".join(out)


class DomainTotals(Vertical):
    DEFAULT_CSS = """
    DomainTotals { height: auto; padding: 0 1; }
    DomainTotals > .totals-label { height: 1; }
    DomainTotals .totals-domain { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    DomainTotals .totals-counts { width: auto; text-wrap: nowrap; }
    DomainTotals > .totals-chart { height: 2; text-wrap: nowrap; }
    DomainTotals > .totals-axis { height: auto; text-wrap: nowrap; }
    """

    def __init__(
        self,
        service: ReportService,
        domains: Sequence[str],
        today: Callable[[], date],
        live: LiveState | None = None,
        days: int = 30,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.service = service
        self.domains = tuple(domains)
        self.today = today
        self.live = live
        self.totals: list[DomainTotal] = []
        self.days = days
        self.forged = 0  # reports in the window whose mail failed DKIM: not in the charts
        #: bumped on each rebuild: widget ids of the old set may still be mounted meanwhile
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield from self._widgets()

    def on_mount(self) -> None:
        self.reload()
        if self.live is not None:
            self.live.reports_changed.subscribe(self, lambda _version: self.reload())

    def reload(self) -> None:
        """Re-read the charts (in a worker, off the loop): configured domains, or with none
        the busiest reported ones, so a store of thousands of domains draws a handful."""
        self.run_worker(self._reload(), group="totals-load", exclusive=True,
                        exit_on_error=False)

    async def _reload(self) -> None:
        try:
            today = self.today()
            charts = await self.service.domain_charts(self.domains, today, self.days)
            self.forged = await self.service.forged_count(
                today - timedelta(days=self.days - 1), today)
        except Exception as exc:
            self.notify(f"could not read the totals: {clean(exc)}", severity="error",
                        markup=False)
            return
        self.update_totals([domain_total(domain, daily) for domain, daily in charts])

    @property
    def scale(self) -> int:
        """The most sessions of one kind on one day, over every domain: the full bar."""
        return max((v for t in self.totals for v in (*t.daily_ok, *t.daily_failed)), default=0)

    def _chart(self, t: DomainTotal) -> Text:
        """``ok   ▅▆▇…`` and ``fail ▁ █…`` on the shared scale; today's bar (the last) is a
        partial day and drawn dim."""
        text = Text(no_wrap=True)
        for label, values, style in (("ok   ", t.daily_ok, styles.OK),
                                     ("fail ", t.daily_failed, styles.FAILED)):
            text.append(label, style=style if label.startswith("fail") and t.failed else "")
            bars = bar_line(values, self.scale)
            text.append(bars[:-1], style=style)
            text.append(bars[-1:], style=styles.QUIET)
            text.append("\n")
        text.rstrip()
        return text

    def _axis(self) -> Text:
        first = self.today().toordinal() - self.days + 1
        start = date.fromordinal(first).strftime("%m-%d")
        text = Text(no_wrap=True, style=styles.QUIET)
        text.append("     " + start + "today".rjust(self.days - len(start)) + "\n")
        text.append(f"     one log scale: ▁ 1 … █ {self.scale:,} sessions/day; today so far")
        if self.forged:  # reports whose mail failed DKIM: their figures are not drawn
            text.append(f"\n     {FORGED_MARK} {self.forged:,} forged not counted",
                        style=styles.FORGED)
        return text

    def _widgets(self) -> list[Static | Horizontal]:
        g = self.generation
        out: list[Static | Horizontal] = [
            Static(Text(f"Last {self.days} days", style="bold"), classes="totals-title")
        ]
        for i, t in enumerate(self.totals):
            out.append(Horizontal(
                Static(Text(clean(t.domain), style="bold"), classes="totals-domain"),
                Static(self._label(t), id=f"totals-{g}-{i}", classes="totals-counts"),
                classes="totals-label",
            ))
            out.append(Static(self._chart(t), id=f"chart-{g}-{i}", classes="totals-chart"))
        if self.totals:
            out.append(Static(self._axis(), id=f"axis-{g}", classes="totals-axis"))
        return out

    @staticmethod
    def _label(t: DomainTotal) -> Text:
        """The counts part of a domain's line (the domain is its own widget)."""
        text = Text(no_wrap=True)
        text.append(f" ok {t.successful:,}", style=styles.OK)
        text.append(" ")
        text.append(f"failed {t.failed:,}", style=styles.failed_count(t.failed))
        return text

    def update_totals(self, totals: Sequence[DomainTotal]) -> None:
        """Update in place when the domain list is unchanged, else rebuild."""
        totals = list(totals)
        if totals == self.totals:
            return  # nothing new in the charts' days (a sync storing older reports)
        if [t.domain for t in totals] != [t.domain for t in self.totals]:
            self.totals = totals
            self.generation += 1
            self.remove_children()
            self.mount_all(self._widgets())
            return
        self.totals = totals
        g = self.generation
        for i, t in enumerate(totals):
            self.query_one(f"#totals-{g}-{i}", Static).update(self._label(t))
            self.query_one(f"#chart-{g}-{i}", Static).update(self._chart(t))
        if totals:
            self.query_one(f"#axis-{g}", Static).update(self._axis())
