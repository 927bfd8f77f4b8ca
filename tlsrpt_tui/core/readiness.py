"""Enforce readiness: "can I switch MTA-STS to enforce?" and "what is enforce costing me?".

Pure: the store aggregates the reports of a window (per policy domain and policy type: sessions,
failures by result type, receiving MX and reporting organization), the service adds what the
live checks say now about each cause, and this module turns both into a verdict in words with the
figures behind it. Nothing here reads the clock: ``today`` is passed in, so figures are exact.

Why the verdict looks at causes and not only at counts: a failure that senders reported last week
matters only if it still happens. Each (result type, receiving MX) pair is a *cause*; the latest
stored check tells whether it still fails now, and the check history since when it is fixed. A
cause the live checks cannot judge (never checked, not probed) counts as still failing, because
"we do not know" must never read as "ready".

What counts as a session enforce would lose: every failed session except those whose sender could
not get the policy at all (``sts-policy-*``): without a usable policy a sender delivers as it
would without MTA-STS, enforce or not, so those are reported apart. Failed sessions without
failure details are counted as lost, with an unknown cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from tlsrpt_tui.core.checks.sts_policy import parse_policy
from tlsrpt_tui.core.findings import DomainStatus, Finding, Severity

#: Result types that mean "the sender got no usable MTA-STS policy": it then delivers without
#: MTA-STS, so these sessions are not lost by enforce (RFC 8461: without a valid policy,
#: nothing is enforced; a sender holding a cached one keeps using it).
POLICY_UNAVAILABLE = frozenset(
    {"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"}
)
#: Result types only the STARTTLS probe of the MX can see (not judged when the MX was not probed).
PROBED = frozenset({
    "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "tlsa-invalid",
})
#: What the live check finding the problem gone means, in words, per result type.
FIXED_WORDS = {
    "starttls-not-supported": "{mx} offers STARTTLS now",
    "certificate-host-mismatch": "{mx}'s certificate now covers its name",
    "certificate-expired": "{mx}'s certificate is valid now",
    "certificate-not-trusted": "{mx}'s certificate chain is trusted now",
    "validation-failure": "{mx} passes validation now",
    "tlsa-invalid": "{mx}'s TLSA records match its certificate now",
    "dnssec-invalid": "the DNSSEC answers for {mx} validate now",
    "dane-required": "{mx} has valid TLSA records now",
    "sts-policy-fetch-error": "the policy is fetched now",
    "sts-policy-invalid": "the policy is valid now",
    "sts-webpki-invalid": "the policy host's certificate is valid now",
}

#: Fewer days with reports than this in the window is too little data to call a domain ready.
MIN_DAYS = 7
#: A reporter is "regular" when it reported on at least this many days of the window ...
REGULAR_DAYS = 5
#: ... and it has "stopped" after this many days without a report (alerts.md: 72 hours).
GAP_DAYS = 3

TYPE_ORDER = {"sts": 0, "tlsa": 1, "no-policy-found": 2}
TYPE_NAMES = {"sts": "MTA-STS", "tlsa": "DANE", "no-policy-found": "no policy"}


# -- what the store hands in -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyAggregate:
    """One policy domain and type over the window: sums over every report's policy of it."""

    domain: str
    policy_type: str  # sts | tlsa | no-policy-found
    reports: int
    successful: int
    failed: int
    unexplained: int  # failed sessions not covered by failure details
    days: int  # distinct UTC start dates with a report
    first_day: date
    last_day: date
    policy_strings: tuple[str, ...] = ()  # of the newest report (its mode, for STS)


@dataclass(frozen=True, slots=True)
class FailureAggregate:
    """Failed sessions of one result type at one receiving MX, reported by one organization."""

    domain: str
    policy_type: str
    result_type: str
    mx: str | None  # receiving-mx-hostname, lower-cased, without the final dot
    organization: str
    sessions: int
    last_day: date


@dataclass(frozen=True, slots=True)
class ReporterAggregate:
    """One reporting organization's reports of one policy domain and type over the window."""

    domain: str
    policy_type: str
    organization: str
    days: int
    successful: int
    failed: int
    last_day: date


@dataclass(frozen=True, slots=True)
class CauseHistory:
    """From the stored checks: the last check that still showed the cause, and the one after."""

    last_failing_at: str | None = None
    fixed_at: str | None = None


# -- what comes out ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cause:
    """A reason sessions failed: result type at a receiving MX, with what the live check says."""

    result_type: str | None  # None: failed sessions reported without failure details
    mx: str | None
    sessions: int
    organizations: tuple[str, ...]
    last_day: date | None
    loses_mail: bool  # False for sts-policy-*: the sender then delivers without MTA-STS
    live: str = "unknown"  # failing | fixed | not-seen | gone | reported-after-fix | unknown
    live_text: str = ""
    since: str | None = None  # ISO time the live checks first saw it fixed

    @property
    def still_failing(self) -> bool:
        return self.live in ("failing", "unknown", "reported-after-fix")

    def label(self) -> str:
        what = self.result_type or "failures without details"
        return f"{what} at {self.mx}" if self.mx else what

    def to_json(self) -> dict[str, Any]:
        return {
            "result_type": self.result_type,
            "mx": self.mx,
            "sessions": self.sessions,
            "organizations": list(self.organizations),
            "last_reported": self.last_day.isoformat() if self.last_day else None,
            "loses_mail": self.loses_mail,
            "live": self.live,
            "live_text": self.live_text,
            "fixed_since": self.since,
        }


@dataclass(frozen=True, slots=True)
class Reporter:
    organization: str
    days: int
    sessions: int
    failed: int
    last_day: date
    silent_days: int  # days since its last report's day, today not counted
    stopped: bool  # a regular reporter that has gone silent: its evidence is missing

    def to_json(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "days": self.days,
            "sessions": self.sessions,
            "failed": self.failed,
            "last_report": self.last_day.isoformat(),
            "silent_days": self.silent_days,
            "stopped": self.stopped,
        }


@dataclass(frozen=True, slots=True)
class Readiness:
    """The answer for one policy domain and policy type (or a domain with no reports at all).

    ``question`` is what is being answered: "switch" (testing or none: would enforce lose mail?),
    "cost" (enforce or DANE: what does it lose?), "publish" (senders found no policy) or "none"
    (no reports). ``verdict``: no-reports | no-policy | unaffected | too-little-data | clean |
    fixed | failing.
    ``ready``: safe to enforce (or enforcing costs nothing now); None when it cannot be said.
    """

    domain: str
    policy_type: str | None
    mode: str | None
    mode_source: str | None  # "live check" | "reports"
    question: str
    verdict: str
    ready: bool | None
    summary: str
    since: date
    until: date
    days: int
    reports: int = 0
    report_days: int = 0
    sessions: int = 0
    successful: int = 0
    failed: int = 0
    lost: int = 0  # failed sessions enforce loses (bounced or deferred)
    policy_unavailable: int = 0
    unexplained: int = 0
    by_result_type: dict[str, int] = field(default_factory=dict)
    by_mx: dict[str, int] = field(default_factory=dict)
    causes: tuple[Cause, ...] = ()
    reporters: tuple[Reporter, ...] = ()
    notes: tuple[str, ...] = ()
    checked_at: str | None = None  # the live check the causes were judged by

    @property
    def title(self) -> str:
        name = TYPE_NAMES.get(self.policy_type or "", "reports")
        return f"{name} ({self.mode})" if self.mode else name

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "policy_type": self.policy_type,
            "mode": self.mode,
            "mode_source": self.mode_source,
            "question": self.question,
            "verdict": self.verdict,
            "ready": self.ready,
            "summary": self.summary,
            "window": {"since": self.since.isoformat(), "until": self.until.isoformat(),
                       "days": self.days},
            "reports": self.reports,
            "report_days": self.report_days,
            "sessions": self.sessions,
            "successful": self.successful,
            "failed": self.failed,
            "lost": self.lost,
            "policy_unavailable": self.policy_unavailable,
            "unexplained": self.unexplained,
            "by_result_type": dict(self.by_result_type),
            "by_mx": dict(self.by_mx),
            "causes": [c.to_json() for c in self.causes],
            "reporters": [r.to_json() for r in self.reporters],
            "notes": list(self.notes),
            "checked_at": self.checked_at,
        }


# -- words and numbers -------------------------------------------------------------------------


def count(n: int) -> str:
    return f"{n:,}"


def percent(part: int, whole: int) -> str:
    if whole <= 0:
        return "0 %"
    value = 100.0 * part / whole
    if 0 < value < 0.05:
        return "under 0.1 %"
    return f"{value:.1f} %".replace(".0 %", " %")


def _and(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def reported_mode(policy_strings: Iterable[str]) -> str | None:
    """The ``mode`` of an STS policy as a report quotes it (one line per element)."""
    for line in policy_strings:
        key, _, value = line.partition(":")
        if key.strip() == "mode":
            mode = value.strip()
            return mode if mode in ("enforce", "testing", "none") else None
    return None


def live_mode(status: DomainStatus | None) -> str | None:
    """The mode of the policy the latest live check fetched, when it was valid."""
    body = (status.records.get("policy") if status is not None else None) or None
    if not isinstance(body, str):
        return None
    policy = parse_policy(body)
    return policy.mode if policy.valid else None


def _mx_hosts(status: DomainStatus) -> set[str] | None:
    """The MX hosts of a check (the domain itself when it has none); None if the lookup failed."""
    mx = status.records.get("mx")
    if mx is None:
        return None
    hosts = {str(m).split()[-1].rstrip(".").lower() for m in mx if str(m).split()}
    hosts.discard("")
    return hosts or {status.domain}


def _subject_host(subject: str) -> str:
    subject = subject.lower().rstrip(".")
    return subject.removeprefix("_25._tcp.")


def matching_findings(status: DomainStatus, result_type: str, mx: str | None) -> list[Finding]:
    """The live findings (warning or worse) that would make senders report this cause."""
    out = []
    for f in status.findings:
        if f.result_type != result_type or f.severity.rank < Severity.WARNING.rank:
            continue
        if mx is None or result_type in POLICY_UNAVAILABLE or _subject_host(f.subject) == mx:
            out.append(f)
    return out


def cause_subjects(mx: str | None, result_type: str) -> tuple[str, ...] | None:
    """Finding subjects that name this cause in stored checks (None: any subject)."""
    if mx is None or result_type in POLICY_UNAVAILABLE:
        return None
    return (mx, f"_25._tcp.{mx}")


def judge_cause(
    cause: Cause, status: DomainStatus | None, history: CauseHistory | None = None
) -> Cause:
    """The cause with what the latest live check (and the check history) says about it."""
    if cause.result_type is None:
        return replace(cause, live="unknown",
                       live_text="reported without failure details: the cause is unknown")
    if status is None:
        return replace(cause, live="unknown", live_text="never checked live")
    when = status.checked_at[:10]
    found = matching_findings(status, cause.result_type, cause.mx)
    if found:
        return replace(cause, live="failing",
                       live_text=f"still failing now ({found[0].code}: {found[0].message})")
    hosts = _mx_hosts(status)
    if cause.mx is not None and cause.result_type not in POLICY_UNAVAILABLE:
        if hosts is None:
            return replace(cause, live="unknown",
                           live_text=f"the MX lookup of the check of {when} failed")
        if cause.mx not in hosts:
            return replace(cause, live="gone",
                           live_text=f"{cause.mx} is no longer an MX (check of {when})")
    if cause.result_type in PROBED:
        probed = status.records.get("probe") or {}
        if (cause.mx is not None and cause.mx not in probed) or not probed:
            return replace(cause, live="unknown",
                           live_text=f"not probed by the check of {when}")
    words = FIXED_WORDS.get(cause.result_type, "no such problem now").format(
        mx=cause.mx or "the MX")
    history = history or CauseHistory()
    if history.last_failing_at is None:
        return replace(cause, live="not-seen",
                       live_text=f"the live checks do not see it (last checked {when})")
    fixed_day = (history.fixed_at or status.checked_at)[:10]
    if cause.last_day is not None and cause.last_day.isoformat() > fixed_day:
        return replace(
            cause, live="reported-after-fix", since=history.fixed_at,
            live_text=f"{words} (since {fixed_day}), but senders still reported it on "
                      f"{cause.last_day.isoformat()}: they may see another address",
        )
    return replace(cause, live="fixed", since=history.fixed_at,
                   live_text=f"{words}: fixed since {fixed_day}")


# -- building the answer -----------------------------------------------------------------------


def causes_of(failures: Iterable[FailureAggregate], unexplained: int = 0,
              last_day: date | None = None) -> list[Cause]:
    """One Cause per (result type, MX), the organizations that reported it, most sessions first."""
    sums: dict[tuple[str, str | None], int] = {}
    orgs: dict[tuple[str, str | None], dict[str, int]] = {}
    last: dict[tuple[str, str | None], date] = {}
    for f in failures:
        key = (f.result_type, f.mx)
        sums[key] = sums.get(key, 0) + f.sessions
        by_org = orgs.setdefault(key, {})
        by_org[f.organization] = by_org.get(f.organization, 0) + f.sessions
        last[key] = max(last.get(key, f.last_day), f.last_day)
    out = [
        Cause(
            result_type=rt, mx=mx, sessions=n,
            organizations=tuple(sorted(orgs[(rt, mx)], key=lambda o: (-orgs[(rt, mx)][o], o))),
            last_day=last[(rt, mx)], loses_mail=rt not in POLICY_UNAVAILABLE,
        )
        for (rt, mx), n in sums.items() if n > 0
    ]
    if unexplained > 0:
        out.append(Cause(None, None, unexplained, (), last_day, True))
    out.sort(key=lambda c: (-c.sessions, c.result_type or "~", c.mx or ""))
    return out


def reporters_of(rows: Iterable[ReporterAggregate], today: date) -> list[Reporter]:
    out = []
    for r in rows:
        silent = max(0, (today - r.last_day).days - 1)
        out.append(Reporter(
            organization=r.organization, days=r.days, sessions=r.successful + r.failed,
            failed=r.failed, last_day=r.last_day, silent_days=silent,
            stopped=r.days >= REGULAR_DAYS and silent >= GAP_DAYS,
        ))
    out.sort(key=lambda r: (-r.sessions, r.organization))
    return out


def _question(policy_type: str, mode: str | None) -> str:
    if policy_type == "no-policy-found":
        return "publish"
    if policy_type == "tlsa" or mode == "enforce":
        return "cost"
    return "switch"


def _cause_phrase(causes: Sequence[Cause]) -> str:
    if len(causes) == 1:
        c = causes[0]
        orgs = f", reported by {_and(list(c.organizations))}" if c.organizations else ""
        return f"all {c.label()}{orgs}"
    shown = [f"{c.label()} ({count(c.sessions)})" for c in causes[:3]]
    more = f" and {len(causes) - 3} more" if len(causes) > 3 else ""
    return f"{', '.join(shown)}{more}"


def assess(
    aggregate: PolicyAggregate,
    failures: Sequence[FailureAggregate],
    reporters: Sequence[ReporterAggregate],
    *,
    today: date,
    days: int,
    status: DomainStatus | None = None,
    histories: dict[tuple[str, str | None], CauseHistory] | None = None,
    has_policy: bool = False,
) -> Readiness:
    """The answer for one policy domain and type from its aggregates and the live evidence.

    ``has_policy``: other reports (or the live check) show the domain publishes a policy; then
    "no policy found" sessions come from senders that do not use it, and enforce does not
    change them, so they are not a reason to publish one."""
    since = _window_start(today, days)
    agg = aggregate
    mode_now = live_mode(status) if agg.policy_type == "sts" else None
    mode = mode_now or (reported_mode(agg.policy_strings) if agg.policy_type == "sts" else None)
    mode_source = ("live check" if mode_now else "reports") if mode else None
    question = _question(agg.policy_type, mode)
    histories = histories or {}
    causes = [
        judge_cause(c, status, histories.get((c.result_type or "", c.mx)))
        for c in causes_of(failures, agg.unexplained, agg.last_day)
    ]
    by_type: dict[str, int] = {}
    by_mx: dict[str, int] = {}
    for f in failures:
        by_type[f.result_type] = by_type.get(f.result_type, 0) + f.sessions
        if f.mx:
            by_mx[f.mx] = by_mx.get(f.mx, 0) + f.sessions
    sessions = agg.successful + agg.failed
    unavailable = sum(c.sessions for c in causes if not c.loses_mail)
    losing = [c for c in causes if c.loses_mail]
    lost = sum(c.sessions for c in losing)
    people = reporters_of(reporters, today)
    notes: list[str] = []
    for r in people:
        if r.stopped:
            notes.append(f"{r.organization} has not reported for {r.silent_days} days: "
                         "too little data from it")
    if unavailable:
        kinds = _and(sorted({c.result_type or "" for c in causes if not c.loses_mail}))
        notes.append(
            f"{count(unavailable)} failed sessions could not get the policy ({kinds}): those "
            "senders deliver without MTA-STS, enforce or not; fix the policy host")
    if agg.unexplained:
        notes.append(f"{count(agg.unexplained)} failed sessions came without failure details")
    if mode_now and agg.policy_strings:
        reported = reported_mode(agg.policy_strings)
        if reported and reported != mode_now:
            notes.append(f"the newest report still quotes mode {reported}; the live policy "
                         f"is mode {mode_now}")

    figures = f"{count(lost)} of {count(sessions)} sessions"
    if lost:
        figures += f" ({percent(lost, sessions)}), {_cause_phrase(losing)}"
    if question == "publish" and has_policy:
        verdict, ready = "unaffected", None
        summary = (f"{count(sessions)} sessions from senders that found no MTA-STS or DANE "
                   "policy (they do not use one, or could not get it): enforce does not "
                   "change them")
    elif question == "publish":
        verdict, ready = "no-policy", None
        summary = (f"senders found no MTA-STS or DANE policy for {count(sessions)} sessions: "
                   f"publish one in testing mode first (tlsrpt-tui records {agg.domain})")
    else:
        if question == "switch":
            head = f"switching MTA-STS to enforce would have bounced or deferred {figures}"
        elif agg.policy_type == "tlsa":
            head = f"DANE deferred {figures}"
        else:
            head = f"MTA-STS enforce bounced or deferred {figures}"
        failing = [c for c in losing if c.still_failing]
        recent_silence = max(0, (today - agg.last_day).days - 1)
        if failing:
            verdict, ready = "failing", False
            tail = ("still failing now" if all(c.live == "failing" for c in failing)
                    else "not known to be fixed")
            tail += f" ({_and([c.label() for c in failing[:3]])})" if len(losing) > 1 else ""
        elif agg.days < min(MIN_DAYS, days) or recent_silence >= GAP_DAYS:
            verdict, ready = "too-little-data", None
            tail = (f"no report for {recent_silence} days" if recent_silence >= GAP_DAYS
                    else f"only {agg.days} day{'s' if agg.days != 1 else ''} with reports")
            tail += ": too little data"
        elif losing:
            verdict, ready = "fixed", True
            fixed = [c for c in losing if c.live == "fixed" and c.since]
            if fixed:
                tail = "fixed since " + max(c.since or "" for c in fixed)[:10]
            else:
                tail = "the live checks no longer see the cause"
        else:
            verdict, ready = "clean", True
            tail = ""
        if question == "switch":
            tail = {"failing": "not ready, " + tail, "fixed": "ready, " + tail,
                    "clean": "ready to enforce"}.get(verdict, tail)
        elif verdict == "clean":
            tail = "enforce costs nothing" if agg.policy_type == "sts" else "DANE costs nothing"
        summary = f"{head}: {tail}"
    return Readiness(
        domain=agg.domain, policy_type=agg.policy_type, mode=mode, mode_source=mode_source,
        question=question, verdict=verdict, ready=ready, summary=summary,
        since=since, until=today, days=days, reports=agg.reports, report_days=agg.days,
        sessions=sessions, successful=agg.successful, failed=agg.failed, lost=lost,
        policy_unavailable=unavailable, unexplained=agg.unexplained,
        by_result_type=dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_mx=dict(sorted(by_mx.items(), key=lambda kv: (-kv[1], kv[0]))),
        causes=tuple(causes), reporters=tuple(people), notes=tuple(notes),
        checked_at=status.checked_at if status is not None else None,
    )


def no_reports(domain: str, *, today: date, days: int,
               status: DomainStatus | None = None) -> Readiness:
    """The answer for a domain no report in the window mentions."""
    summary = (f"no TLS-RPT reports for {domain} in the last {days} days: nothing to judge "
               "enforce by")
    codes = status.codes if status is not None else set()
    if "tlsrpt.missing" in codes:
        summary += (f"; no TLS-RPT record is published, so no sender reports "
                    f"(tlsrpt-tui records {domain})")
    elif status is None:
        summary += f"; is a TLS-RPT record published? (tlsrpt-tui check {domain})"
    mode = live_mode(status)
    return Readiness(
        domain=domain, policy_type=None, mode=mode, mode_source="live check" if mode else None,
        question="none", verdict="no-reports", ready=None, summary=summary,
        since=_window_start(today, days), until=today, days=days,
        checked_at=status.checked_at if status is not None else None,
    )


def _window_start(today: date, days: int) -> date:
    return today - timedelta(days=max(days, 1) - 1)


def sort_key(r: Readiness) -> tuple[str, int]:
    return (r.domain, TYPE_ORDER.get(r.policy_type or "", 9))


# -- the answer as lines (the CLI's table, the TUI's screen) ------------------------------------

_LABELS = {
    ("switch", "failing"): "NOT READY", ("switch", "clean"): "READY",
    ("switch", "fixed"): "READY (FIXED)", ("cost", "failing"): "FAILING",
    ("cost", "clean"): "CLEAN", ("cost", "fixed"): "FIXED",
}


def verdict_label(r: Readiness) -> str:
    return _LABELS.get((r.question, r.verdict), r.verdict.replace("-", " ").upper())


def describe(r: Readiness) -> list[tuple[str, str]]:
    """(kind, line) pairs: kind is head, summary, figures, section, cause, live, reporter or
    note, so a front can style them. Lines hold untrusted text (organizations, MX names) as is:
    the front escapes it."""
    mode = f" ({r.mode}, from the {r.mode_source})" if r.mode and r.mode_source else ""
    name = TYPE_NAMES.get(r.policy_type or "", "")
    lines = [("head", "  ".join(p for p in (r.domain, name + mode, verdict_label(r)) if p))]
    lines.append(("summary", r.summary))
    window = f"last {r.days} days ({r.since.isoformat()} to {r.until.isoformat()})"
    if r.policy_type is None:
        lines.append(("figures", f"{window}: no reports"))
    else:
        lines.append(("figures", (
            f"{window}: {count(r.sessions)} sessions ({count(r.successful)} ok, "
            f"{count(r.failed)} failed) in {count(r.reports)} report"
            f"{'s' if r.reports != 1 else ''} on {r.report_days} day"
            f"{'s' if r.report_days != 1 else ''}")))
    if r.causes:
        lines.append(("section", "failures by cause:"))
        width = max(len(count(c.sessions)) for c in r.causes)
        for c in r.causes:
            orgs = f"  ({', '.join(c.organizations)})" if c.organizations else ""
            lines.append(("cause", f"  {count(c.sessions):>{width}}  {c.label()}{orgs}"))
            lines.append(("live", f"  {'':>{width}}  {c.live_text}"))
    if r.reporters:
        lines.append(("section", "reporters:"))
        w_org = max(len(p.organization) for p in r.reporters)
        w_ses = max(len(count(p.sessions)) for p in r.reporters)
        for p in r.reporters:
            silent = f", nothing for {p.silent_days} days" if p.stopped else ""
            lines.append(("reporter", (
                f"  {p.organization:<{w_org}}  {p.days:>2} day{'s' if p.days != 1 else ' '}  "
                f"{count(p.sessions):>{w_ses}} sessions  {count(p.failed)} failed  "
                f"last report {p.last_day.isoformat()}{silent}")))
    for note in r.notes:
        lines.append(("note", f"note: {note}"))
    if r.checked_at:
        lines.append(("figures", f"live findings from the check of {r.checked_at}"))
    return lines
