"""Per-domain totals with a 30-day success/failure chart (two Sparklines per domain).

Each domain's line is two widgets: the counts keep their width and the domain name gives way
(cut with an ellipsis), so large counts never wrap onto a line of their own in the narrow
left panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from tlsrpt_tui.ui import styles
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
    DomainTotals > .totals-label { height: 1; }
    DomainTotals .totals-domain { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    DomainTotals .totals-counts { width: auto; text-wrap: nowrap; }
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
        #: bumped on each rebuild: widget ids of the old set may still be mounted meanwhile
        self.generation = 0

    def compose(self) -> ComposeResult:
        yield from self._widgets()

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
