"""Per-domain totals with a 30-day success/failure chart (two Sparklines per domain)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from tlsrpt_tui.ui.text import clean


@dataclass(frozen=True, slots=True)
class DomainTotal:
    domain: str
    successful: int
    failed: int
    daily_ok: tuple[int, ...]  # oldest first, one value per day
    daily_failed: tuple[int, ...]


class DomainTotals(Vertical):
    DEFAULT_CSS = """
    DomainTotals { height: auto; padding: 0 1; }
    DomainTotals > .totals-label { height: auto; }
    DomainTotals > Sparkline { height: 1; margin-bottom: 0; }
    DomainTotals > Sparkline.failed > .sparkline--max-color { color: $error; }
    DomainTotals > Sparkline.failed > .sparkline--min-color { color: $error 30%; }
    DomainTotals > Sparkline.ok > .sparkline--max-color { color: $success; }
    DomainTotals > Sparkline.ok > .sparkline--min-color { color: $success 30%; }
    """

    def __init__(self, totals: Sequence[DomainTotal], days: int = 30, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.totals = list(totals)
        self.days = days

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Last {self.days} days", style="bold"), classes="totals-title")
        for i, t in enumerate(self.totals):
            yield Static(self._label(t), id=f"totals-{i}", classes="totals-label")
            yield Sparkline(list(t.daily_ok), id=f"spark-ok-{i}", classes="ok")
            yield Sparkline(list(t.daily_failed), id=f"spark-failed-{i}", classes="failed")

    @staticmethod
    def _label(t: DomainTotal) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(clean(t.domain), style="bold")
        text.append(f"  ok {t.successful:,}", style="green")
        text.append(f"  failed {t.failed:,}", style="bold red" if t.failed else "dim")
        return text

    def update_totals(self, totals: Sequence[DomainTotal]) -> None:
        """Update in place when the domain list is unchanged, else rebuild."""
        totals = list(totals)
        if [t.domain for t in totals] != [t.domain for t in self.totals]:
            self.totals = totals
            self.remove_children()
            self.mount_all(list(self.compose()))
            return
        self.totals = totals
        for i, t in enumerate(totals):
            self.query_one(f"#totals-{i}", Static).update(self._label(t))
            self.query_one(f"#spark-ok-{i}", Sparkline).data = list(t.daily_ok)
            self.query_one(f"#spark-failed-{i}", Sparkline).data = list(t.daily_failed)
