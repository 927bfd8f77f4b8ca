"""Per-domain totals with a 30-day success/failure chart (two Sparklines per domain).

Each domain's line is two widgets: the counts keep their width and the domain name gives way
(cut with an ellipsis), so large counts never wrap onto a line of their own in the narrow
left panel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

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


class DomainTotals(Vertical):
    DEFAULT_CSS = """
    DomainTotals { height: auto; padding: 0 1; }
    DomainTotals > .totals-label { height: 1; }
    DomainTotals .totals-domain { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    DomainTotals .totals-counts { width: auto; text-wrap: nowrap; }
    DomainTotals > Sparkline { height: 1; margin-bottom: 0; }
    DomainTotals > Sparkline.failed > .sparkline--max-color { color: $error; }
    DomainTotals > Sparkline.failed > .sparkline--min-color { color: $error 30%; }
    DomainTotals > Sparkline.ok > .sparkline--max-color { color: $success; }
    DomainTotals > Sparkline.ok > .sparkline--min-color { color: $success 30%; }
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
            charts = await self.service.domain_charts(self.domains, self.today(), self.days)
        except Exception as exc:
            self.notify(f"could not read the totals: {clean(exc)}", severity="error",
                        markup=False)
            return
        self.update_totals([domain_total(domain, daily) for domain, daily in charts])

    def _widgets(self) -> list[Static | Sparkline | Horizontal]:
        g = self.generation
        out: list[Static | Sparkline | Horizontal] = [
            Static(Text(f"Last {self.days} days", style="bold"), classes="totals-title")
        ]
        for i, t in enumerate(self.totals):
            out.append(Horizontal(
                Static(Text(clean(t.domain), style="bold"), classes="totals-domain"),
                Static(self._label(t), id=f"totals-{g}-{i}", classes="totals-counts"),
                classes="totals-label",
            ))
            out.append(Sparkline(list(t.daily_ok), id=f"spark-ok-{g}-{i}", classes="ok"))
            out.append(
                Sparkline(list(t.daily_failed), id=f"spark-failed-{g}-{i}", classes="failed")
            )
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
            self.query_one(f"#spark-ok-{g}-{i}", Sparkline).data = list(t.daily_ok)
            self.query_one(f"#spark-failed-{g}-{i}", Sparkline).data = list(t.daily_failed)
