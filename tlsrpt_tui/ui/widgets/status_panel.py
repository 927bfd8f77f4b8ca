"""The DNS status panel: one card per configured domain, one line per checked item.

A card groups the findings of the latest check into the items an admin thinks in (TLS-RPT
record, MTA-STS record, MTA-STS policy, MX, then DANE and STARTTLS per MX host). Each line
carries a glyph as well as a colour, so the state is readable with ``NO_COLOR`` and over a
monochrome SSH session; items whose state changed since the previous check are marked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.containers import Vertical

from tlsrpt_tui.core.checks.catalogue import HOST_CODES
from tlsrpt_tui.core.findings import Finding, Severity
from tlsrpt_tui.core.status_items import StatusItem, group_findings
from tlsrpt_tui.ui import keymap, styles
from tlsrpt_tui.ui.live import CheckView, LiveState
from tlsrpt_tui.ui.messages import OpenFindings, OpenReadiness
from tlsrpt_tui.ui.text import clean
from tlsrpt_tui.ui.widgets.fitted_static import FittedStatic

GLYPH = {
    Severity.OK: "✓",
    Severity.INFO: "i",
    Severity.WARNING: "!",
    Severity.ERROR: "✗",
}
PENDING_GLYPH = "…"
UNKNOWN_GLYPH = "?"
CHANGED_MARK = "Δ"


def glyph_style(severity: Severity) -> str:
    """A glyph's style: the failure mark for errors (see ui.styles for the colour modes)."""
    return {
        Severity.OK: styles.OK,
        Severity.INFO: styles.INFO,
        Severity.WARNING: styles.WARNING,
        Severity.ERROR: styles.FAILED_MARK,
    }[severity]


def policy_mode_of(status: object) -> str | None:
    """The MTA-STS mode of a status, whatever attribute the service keeps it in."""
    for name in ("sts_mode", "policy_mode", "mode"):
        value = getattr(status, name, None)
        if isinstance(value, str) and value:
            return value
    records = getattr(status, "records", None)
    body = records.get("policy") if isinstance(records, dict) else None
    if isinstance(body, str):
        for line in body.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "mode":
                return value.strip() or None
    return None


def card_items(status: object) -> list[StatusItem]:
    """The card lines of one check result."""
    records = getattr(status, "records", None)
    return group_findings(getattr(status, "findings", ()) or (), policy_mode_of(status),
                          records if isinstance(records, dict) else None)


def changed_items(status: object, previous: object | None) -> list[StatusItem]:
    """The card lines of ``status`` whose state differs from ``previous`` (none without one)."""
    if previous is None:
        return []
    before = {
        i.key: (i.severity, i.summary)
        for i in group_findings(
            getattr(previous, "findings", ()) or (),
            records=getattr(previous, "records", None) or None,
        )
    }
    return [i for i in card_items(status) if before.get(i.key) != (i.severity, i.summary)]


def _ago(delta_s: float) -> str:
    s = max(0, int(delta_s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def _checked_at(status: object | None) -> datetime | None:
    value = getattr(status, "checked_at", None)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


class DomainCard(FittedStatic, can_focus=True):
    """The status of one domain; updated in place when a check result arrives.

    Focusable (Tab, or a click) so the domain can be chosen: Enter opens its findings in full
    (ui.screens.finding), and the dashboard's readiness (R) and records (D) keys act on the
    focused card."""

    DEFAULT_CSS = """
    DomainCard {
        height: auto; padding: 0 0 0 1; margin-bottom: 1;
        border-left: blank;
    }
    DomainCard:focus { border-left: thick $accent; background: $boost; }
    DomainCard.-compact {
        margin-bottom: 0; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """
    #: Enter: the card's findings (full text, fix, result type, what changed)
    KEYMAP = "card"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings(KEYMAP)  # type: ignore[assignment]

    def __init__(self, domain: str, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.domain = domain
        self.clock = clock
        self.items: list[StatusItem] = []
        self.host_findings: list[Finding] = []  # about this host, shown atop the panel
        self.changed: set[str] = set()
        #: the previous check's items by key, and when it ran (the finding screen's "was")
        self.previous_items: dict[str, StatusItem] = {}
        self.previous_at: datetime | None = None
        self.checked_at: datetime | None = None
        self.next_at: datetime | None = None
        self.checking = False
        self.error: str | None = None
        #: said instead of the countdown when no check is scheduled (the demo, a paused app)
        self.no_schedule_note = ""

    def action_readiness(self) -> None:
        self.post_message(OpenReadiness(self.domain))

    def apply(self, view: CheckView) -> None:
        """Show the domain's live state as the app last published it."""
        if view.status is not None:
            findings = list(getattr(view.status, "findings", ()) or ())
            self.items = card_items(view.status)
            self.host_findings = [f for f in findings if f.code in HOST_CODES]
            self.changed = {i.key for i in changed_items(view.status, view.previous)}
            self.previous_items = (
                {} if view.previous is None else {i.key: i for i in card_items(view.previous)})
            self.previous_at = _checked_at(view.previous)
        self.checked_at = view.checked_at
        self.next_at = view.next_at
        self.checking = view.checking
        self.error = view.error
        self.no_schedule_note = view.note
        self.refresh_text()

    @property
    def worst(self) -> Severity | None:
        if self.error:
            return Severity.ERROR
        if not self.items:
            return None
        return max((i.severity for i in self.items), key=lambda s: s.rank)

    @property
    def compact(self) -> bool:
        """One line for the domain (narrow terminals: the inbox needs the room)."""
        return self.has_class("-compact")

    def render_compact(self) -> Text:
        """``✗ example.net ✓✓✓✓i✓iΔ✗ STARTTLS mx2.example.net: the MX certificate is…``:
        the domain's glyph, one glyph per item (Δ before a changed one), then the worst item."""
        text = Text(no_wrap=True, overflow="ellipsis")
        worst = self.worst
        text.append(GLYPH[worst] if worst is not None else PENDING_GLYPH,
                    style=glyph_style(worst) if worst else styles.QUIET)
        text.append(" ")
        text.append(clean(self.domain), style="bold")
        text.append(" ")
        if self.error:
            text.append(self.times(), style=styles.QUIET)
            text.append(" could not check: ", style=styles.FAILED)
            text.append(clean(self.error))
            return text
        if not self.items:
            text.append("checking…" if self.checking else "not checked yet", style=styles.QUIET)
            return text
        for item in self.items:
            if item.key in self.changed:
                text.append(CHANGED_MARK, style="bold")
            if item.unknown:
                text.append(UNKNOWN_GLYPH, style=styles.QUIET)
            else:
                text.append(GLYPH[item.severity], style=glyph_style(item.severity))
        known = [i for i in self.items if not i.unknown]
        top = max(known, key=lambda i: i.severity.rank) if known else None
        if top is not None and top.severity is not Severity.OK:
            failing = top.severity is Severity.ERROR
            text.append(f" {clean(top.label)}: {clean(top.summary)}",
                        style=styles.FAILED if failing else "")
        return text

    def render_text(self) -> Text:
        if self.compact:
            return self.render_compact()
        text = Text()
        worst = self.worst
        glyph = GLYPH[worst] if worst is not None else PENDING_GLYPH
        text.append(glyph, style=glyph_style(worst) if worst else styles.QUIET)
        text.append(" ")
        text.append(clean(self.domain), style="bold")
        if self.checking:
            text.append("  checking…", style="italic")
        text.append("\n")
        if self.error:
            text.append(GLYPH[Severity.ERROR], style=styles.FAILED_MARK)
            text.append(" could not check: ", style=styles.FAILED)
            text.append(clean(self.error))
            text.append("\n")
        if not self.items and not self.error:
            text.append(f"{PENDING_GLYPH} not checked yet\n", style="dim")
        for item in self.items:
            mark = CHANGED_MARK if item.key in self.changed else " "
            line_style = "reverse" if item.key in self.changed else ""
            text.append(mark, style="bold")
            if item.unknown:
                text.append(f"{UNKNOWN_GLYPH} ", style=styles.QUIET)
                text.append(clean(item.label), style=line_style)
                text.append(f": {clean(item.summary)}\n")
                continue
            text.append(GLYPH[item.severity], style=glyph_style(item.severity))
            text.append(" ")
            failing = item.severity is Severity.ERROR
            text.append(clean(item.label), style=f"{line_style} {styles.FAILED if failing else ''}")
            if item.severity is not Severity.OK:
                text.append(f": {clean(item.summary)}", style=styles.FAILED if failing else "")
            text.append("\n")
        text.append(self.times(), style="dim")
        return text

    def times(self) -> str:
        """``checked 7m00s ago · next in 52m``."""
        now = self.clock()
        times = []
        if self.checked_at is not None:
            times.append(f"checked {_ago((now - self.checked_at).total_seconds())} ago")
        if self.no_schedule_note:  # "stored (demo)", "checked by HOST:PID:…"
            times.append(self.no_schedule_note)
        if self.next_at is not None:
            left = (self.next_at - now).total_seconds()
            times.append(f"next in {_ago(left)}" if left > 0 else "next: due")
        return " · ".join(times)

    def refresh_text(self) -> None:
        self.update(self.render_text())

    def action_open(self) -> None:
        """Enter: this domain's findings in full (the app opens ui.screens.finding)."""
        self.post_message(OpenFindings(self))


class HostNotes(FittedStatic):
    """The top line of the panel: what about this host makes verdicts unknown, and the fix.

    Said once for all domains (a resolver that does not validate, a blocked port 25), not once
    per domain or per MX. Hidden when there is nothing to say."""

    DEFAULT_CSS = """
    HostNotes { height: auto; padding: 0 0 0 1; margin-bottom: 1; display: none; }
    HostNotes.-shown { display: block; }
    """

    def show(self, findings: list[Finding]) -> None:
        text = Text()
        for f in findings:
            text.append(GLYPH[f.severity], style=glyph_style(f.severity))
            text.append(" this host: ")
            text.append(clean(f.message))
            if f.hint:
                text.append("\n  fix: ", style="bold")
                text.append(clean(f.hint))
            text.append("\n")
        self.set_class(bool(findings), "-shown")
        text.rstrip()
        self.update(text)


class StatusPanel(Vertical):
    """All domain cards; ticks once a second so the countdowns stay current. The cards follow
    the app's live state: its current value on mount, then each change it publishes."""

    DEFAULT_CSS = """
    StatusPanel { height: auto; }
    """

    def __init__(
        self,
        domains: Iterable[str],
        live: LiveState,
        clock: Callable[[], datetime] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.domains = tuple(domains)
        self.live = live
        self.clock = clock or (lambda: datetime.now(UTC))
        self.can_focus = False

    def compose(self):  # type: ignore[no-untyped-def]
        yield HostNotes(id="host-notes")
        for i, domain in enumerate(self.domains):
            yield DomainCard(domain, self.clock, id=f"card-{i}", classes="domain-card")

    def on_mount(self) -> None:
        for card in self.query(DomainCard):
            card.apply(self.live.check(card.domain))
        self.set_compact(self.compact)
        self.refresh_host_notes()
        self.live.check_changed.subscribe(self, self._show)
        self.set_interval(1.0, self._tick)

    def _show(self, view: CheckView) -> None:
        card = self.card(view.domain)
        if card is not None:
            card.apply(view)
            self.refresh_host_notes()

    #: set by the dashboard from the terminal's width (one line per domain when narrow)
    compact = False

    def set_compact(self, compact: bool) -> None:
        self.compact = compact
        for card in self.query(DomainCard):
            card.set_class(compact, "-compact")
            card.refresh_text()

    def _tick(self) -> None:
        for card in self.query(DomainCard):
            if card.checked_at is not None or card.next_at is not None:
                card.refresh_text()

    def refresh_host_notes(self) -> None:
        """The findings about this host (resolver, port 25) of the latest results, once."""
        seen: dict[str, Finding] = {}
        for card in self.query(DomainCard):
            for f in card.host_findings:
                seen.setdefault(f.code, f)
        self.query_one(HostNotes).show(list(seen.values()))

    def card(self, domain: str) -> DomainCard | None:
        for card in self.query(DomainCard):
            if card.domain == domain:
                return card
        return None
