"""Build the demo: a store filled through the real ingest service, a config, seeded checks.

The DNS status panel of the demo shows stored check results (two runs per domain, so what
changed is highlighted) built with the real ``DomainStatus``/``Finding`` types and the finding
catalogue; the alerts screen shows what the real alert engine raised from them and from the
latest failing reports. The demo never does a live lookup and never sends anything.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from tlsrpt_tui.core.checks.catalogue import finding, worst
from tlsrpt_tui.core.findings import Finding, Severity
from tlsrpt_tui.demo.generate import (
    DEMO_DOMAINS,
    FAILURE_STREAK,
    MISMATCH_DAYS,
    MX_IP,
    demo_inputs,
)
from tlsrpt_tui.service.alerts import Alerter
from tlsrpt_tui.service.checks import DomainStatus
from tlsrpt_tui.service.config import (
    AlertSettings,
    CheckSettings,
    Config,
    MailChannel,
    WebhookChannel,
)
from tlsrpt_tui.service.ingest import IngestSummary, ingest_stream
from tlsrpt_tui.store import alerts as alert_store
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store.database import Store

_MX2_IP = MX_IP["mx2.example.net"]
_POLICY = "version: STSv1\nmode: {mode}\n{mx}max_age: 604800\n"


def _policy(mode: str, mxs: tuple[str, ...]) -> str:
    return _POLICY.format(mode=mode, mx="".join(f"mx: {m}\n" for m in mxs))


def _records(domain: str, mxs: tuple[str, ...], mode: str, *, dane: bool) -> dict:
    """What a check would have recorded: the TXT records, the policy, MX, TLSA and the key
    each MX serves (a made-up digest), so the records screen has something to compare."""
    keys = {mx: hashlib.sha256(f"{mx}/demo-key".encode()).hexdigest() for mx in mxs}
    return {
        "tlsrpt": [f"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"],
        "sts": ["v=STSv1; id=20260101T000000"],
        "sts_id": "20260101T000000",
        "policy": _policy(mode, mxs),
        "policy_addresses": ["203.0.113.80"],
        "mx": [f"{10 * (i + 1)} {m}." for i, m in enumerate(mxs)],
        "addresses": {mx: [MX_IP[mx]] for mx in mxs},
        "tlsa": {mx: {"state": "secure" if dane else "none",
                      "records": [f"3 1 1 {keys[mx]}"] if dane else []} for mx in mxs},
        "probe": {mx: {MX_IP[mx]: {"host": mx, "address": MX_IP[mx],
                                    "spki_sha256": keys[mx]}} for mx in mxs},
    }


def _base(domain: str, mxs: tuple[str, ...], *, dane: bool) -> list[Finding]:
    out = [
        finding("tlsrpt.ok", f"_smtp._tls.{domain}"),
        finding("sts.record.ok", f"_mta-sts.{domain}"),
        finding("sts.policy.ok", f"https://mta-sts.{domain}/.well-known/mta-sts.txt"),
        finding("mx.ok", domain),
    ]
    for mx in mxs:
        out.append(finding("dane.ok" if dane else "dane.none", f"_25._tcp.{mx}"))
        out.append(finding("tls.ok", mx))
    return out


def expiry_of_mx2(end: date) -> datetime:
    """When example.net's mx2 certificate expired in the demo's story: at the start of the
    first day whose reports say certificate-expired (generate.FAILURE_STREAK)."""
    first = end - timedelta(days=max(FAILURE_STREAK))
    return datetime.combine(first, time(0, 0), tzinfo=UTC)


def demo_statuses(
    now: datetime, end: date | None = None
) -> list[tuple[DomainStatus, DomainStatus]]:
    """(previous, latest) per demo domain, one story with the reports (`end`: their last
    day): example.net's mx2 certificate expired when the certificate-expired reports start;
    the check before that warned it would (the app was not running in between)."""
    end = end or (now.date() - timedelta(days=1))
    latest_at = (now - timedelta(minutes=7)).replace(microsecond=0)
    expired_at = expiry_of_mx2(end)
    same_prev_at = latest_at - timedelta(hours=1)
    warned_at = expired_at - timedelta(days=3, hours=2)
    out = []
    specs = {
        "example.com": (("mx1.example.com", "mx2.example.com"), "enforce", True),
        "example.net": (("mx1.example.net", "mx2.example.net"), "enforce", False),
        "example.org": (("mail.example.org",), "testing", True),
    }
    for domain in DEMO_DOMAINS:
        mxs, mode, dane = specs[domain]
        records = _records(domain, mxs, mode, dane=dane)
        before = _base(domain, mxs, dane=dane)
        after = list(before)
        if domain == "example.com":
            after.append(finding("dane.no-rollover", f"_25._tcp.{mxs[0]}"))
            before = list(after)
        elif domain == "example.net":
            before = [f for f in before if not (f.code == "tls.ok" and f.subject == mxs[1])]
            left = (expired_at - warned_at).days
            before.append(finding("tls.expiring-soon", mxs[1], f"{_MX2_IP}:25: expires "
                                  f"{expired_at:%Y-%m-%d} UTC ({left} days left)"))
            after = [f for f in after if not (f.code == "tls.ok" and f.subject == mxs[1])]
            after.append(finding("tls.expired", mxs[1],
                                 f"{_MX2_IP}:25: expired {expired_at:%Y-%m-%d %H:%M} UTC"))
        else:
            after.append(finding("sts.policy.testing", f"https://mta-sts.{domain}/.well-known/"
                                 "mta-sts.txt"))
            before = list(after)
        prev_at = warned_at if domain == "example.net" else same_prev_at
        out.append((
            DomainStatus(domain, prev_at.isoformat(), worst(before), records, before),
            DomainStatus(domain, latest_at.isoformat(), worst(after), records, after),
        ))
    return out


#: Alert channels of the demo (nothing is ever sent: the demo only shows stored alerts).
DEMO_ALERTS = AlertSettings(
    mail=(MailChannel(host="smtp.example.com", to=("postmaster@example.com",),
                      name="mail#1 (smtp.example.com)"),),
    webhook=(WebhookChannel(url="https://hooks.example.com/tlsrpt",
                            name="webhook#1 (hooks.example.com)"),),
)


def demo_history(end: date) -> list[DomainStatus]:
    """Older checks of example.org: its certificate did not name mail.example.org until the
    last of MISMATCH_DAYS, when the check found it fixed (what its readiness screen tells)."""
    domain, mx = "example.org", "mail.example.org"
    url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    records = _records(domain, (mx,), "testing", dane=True)
    good = [*_base(domain, (mx,), dane=True), finding("sts.policy.testing", url)]
    bad = [f for f in good if not (f.code == "tls.ok" or f.code == "dane.ok")]
    bad += [finding("tls.host-mismatch", mx, f"{mx} not in SAN (www.{domain})"),
            finding("dane.ok", f"_25._tcp.{mx}")]
    first, last = end - timedelta(days=max(MISMATCH_DAYS)), end - timedelta(days=min(MISMATCH_DAYS))
    out = []
    for day, findings, hour in ((first, bad, 6), (last, bad, 6), (last, good, 14)):
        when = datetime.combine(day, time(hour, 0), UTC).isoformat()
        out.append(DomainStatus(domain, when, worst(findings), records, findings))
    return out


def demo_config(path: Path | None = None) -> Config:
    return Config(path=path, domains=DEMO_DOMAINS, checks=CheckSettings(interval=3600.0),
                  alerts=DEMO_ALERTS)


def _demo_alerts(store: Store, now: datetime, statuses: list[tuple[DomainStatus, DomainStatus]]
                 ) -> None:
    """A few alerts raised by the real alert engine: each domain's two checks (what broke
    between them), the forged report, the two latest reports with failures; the first
    delivered, one retrying. Each check's alerts are raised at the time of that check (a
    story the checks tell: mx2's certificate was announced when it began to expire, not
    today; tests/test_demo_alerts.py holds every alert to the stored checks)."""
    clock = [now]
    alerter = Alerter(store, DEMO_ALERTS, clock=lambda: clock[0])
    for status in sorted((s for pair in statuses for s in pair), key=lambda s: s.checked_at):
        clock[0] = datetime.fromisoformat(status.checked_at)
        alerter.store_check(status)
    clock[0] = now
    # The forged "Google" report: its failures are not announced, one report.forged is.
    for (pk,) in store.conn.execute(
        "SELECT r.id FROM reports r JOIN raw_inputs i ON i.id = r.input_id"
        " WHERE i.dkim_result = 'fail'"
    ).fetchall():
        alerter.report_failures(int(pk))
    failed = store.conn.execute(
        "SELECT id FROM reports WHERE failed > 0 ORDER BY start DESC, id DESC LIMIT 2"
    ).fetchall()
    for (pk,) in reversed(failed):
        alerter.report_failures(int(pk))
    raised = [(int(r[0]), str(r[1])) for r in
              store.conn.execute("SELECT id, raised_at FROM alerts ORDER BY id")]
    ids = [pk for pk, _ in raised]
    at = now.replace(microsecond=0).isoformat()
    with store.transaction():
        for pk, when in raised[:-1]:  # delivered as they were raised
            for channel in DEMO_ALERTS.channels:
                alert_store.mark_delivered(store, pk, channel.name, when)
        if ids:
            alert_store.mark_delivered(store, ids[-1], DEMO_ALERTS.mail[0].name, at)
            alert_store.mark_failed(store, ids[-1], DEMO_ALERTS.webhook[0].name, "HTTP 503")


def build_demo_store(
    path: Path | str, *, end: date | None = None, now: datetime | None = None
) -> tuple[Store, IngestSummary]:
    """A new store at `path` holding the demo reports and two check results per domain."""
    now = now or datetime.now(UTC)
    store = Store(path)
    end = end or (now.date() - timedelta(days=1))
    summary = ingest_stream(store, demo_inputs(end))
    for older in demo_history(end):  # example.org's story, before the two latest
        check_store.save(store, older.to_json())
    _demo_alerts(store, now, demo_statuses(now, end))
    return store, summary


__all__ = ["Severity", "build_demo_store", "demo_config", "demo_statuses"]
