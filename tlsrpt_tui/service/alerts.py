"""When alerts are raised: reports, gaps, check changes, expiring certificates, failing workers.

Reports arrive through IMAP (``watch``, or the TUI's sync process), the HTTPS receiver or an
import, maybe in another process or on another host. Two paths, one rule:

- ``watch``'s own IMAP batches: the alerts of a batch's reports are raised INSIDE the batch's
  transaction (``raise_for_inputs``, called by sync.CommitHook on the sync's writer
  connection), so an alert commits with the report that raised it, as alerts.md asks.
- Everything else (``import``, ``receive``, the TUI's sync, a batch whose alert step failed):
  every writer, in the very transaction that stores a report, also stores a row saying "not
  considered yet" (``alert_pending_reports``, migration 010; store/reports.py), and
  ``scan_reports`` considers those rows and deletes them in the SAME transaction that inserts
  the alerts they raise. The in-batch path deletes its reports' rows the same way, so the
  scan never considers them again.

Why no alert is ever lost or repeated:
- A report exists, committed, exactly when its pending row does: a scan can only miss a report
  that is not committed yet, and then it still finds it at a later scan. An id high-water mark
  could not promise that on PostgreSQL, where a transaction holding ids 100..110 may commit
  after one holding 111..120 that a scan has already passed.
- The alerts and the deletion of the rows they came from commit together: a crash before that
  commit leaves both untouched and the next scan (or the batch fetched again) raises them
  again; after it, they are stored and only delivery remains. The engine's transactions run
  one at a time across all workers (``leases.serialize``), so two cannot both consider one
  row, and every alert carries a dedup key (UNIQUE in the store), so raising twice would be
  harmless anyway.

Check results are stored together with the alerts they raise, in one transaction. Each
function here runs one short transaction (or works inside the caller's); the service calls
them after each sync batch, after each check and on a timer (spec: ../shared/spec/alerts.md).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tlsrpt_tui.core.alerts import (
    Alert,
    failures_body,
    failures_summary,
    result_type_lines,
    safe_line,
)
from tlsrpt_tui.core.findings import DomainStatus, Finding, Severity
from tlsrpt_tui.core.status_items import group_findings
from tlsrpt_tui.service.config import AlertSettings
from tlsrpt_tui.service.supervise import WorkerState
from tlsrpt_tui.store import alerts as db
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store import leases
from tlsrpt_tui.store.database import Store

log = logging.getLogger(__name__)

#: A report whose range ended this long before it arrived is late: stored, not announced.
LATE = timedelta(days=7)
#: An account or channel failing this long becomes an alert.
FAILING_FOR = timedelta(minutes=30)
#: Pending reports considered per transaction.
SCAN_CHUNK = 500

Clock = Callable[[], datetime]
#: Called with each newly stored alert (log it, wake the deliverers).
Raised = Callable[[Alert], None]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Alerter:
    """Raises alerts into the store; ``channels`` are the delivery channel names to owe them to."""

    store: Store
    settings: AlertSettings = field(default_factory=AlertSettings)
    clock: Clock = field(default=lambda: datetime.now(UTC))
    on_raised: Raised | None = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One of the engine's read-decide-write transactions, alone among every worker
        sharing the store (two workers must not both consider one pending report or count one
        folder's backlog twice)."""
        with self.store.transaction():
            leases.serialize(self.store, "alerts")
            yield

    @property
    def channels(self) -> list[str]:
        return [c.name for c in self.settings.channels]

    @property
    def min_rank(self) -> int:
        return Severity(self.settings.min_severity).rank

    def _reminder(self, announced: datetime, now: datetime) -> int:
        """Which reminder of a condition announced at ``announced`` and still true is due now
        (alerts.md ``remind_hours``: re-announced at most this often): 0 while none is; each
        number is raised once (it is part of the reminder's dedup key)."""
        hours = self.settings.remind_hours
        if hours <= 0 or now <= announced:
            return 0
        return int((now - announced).total_seconds() // (hours * 3600))

    def _raise(self, alert: Alert, channels: list[str] | None = None) -> Alert | None:
        """Insert (inside the caller's transaction); the callback runs after the commit."""
        pk = db.insert(self.store, alert, self.channels if channels is None else channels)
        if pk is None:
            return None
        return Alert(**{**_fields(alert), "pk": pk})

    def announce(self, raised: Iterable[Alert | None]) -> list[Alert]:
        """Log each alert raised (and committed) and call ``on_raised`` (wake the deliverers)."""
        out = [a for a in raised if a is not None]
        for alert in out:
            log.warning("%s", alert.log_line())
            if self.on_raised is not None:
                try:
                    self.on_raised(alert)
                except Exception:
                    log.exception("alert callback failed")
        return out

    # -- reports -------------------------------------------------------------------------------

    def scan_reports(self) -> list[Alert]:
        """Consider every report stored and not considered yet (any writer, any process, in
        whatever order their transactions committed)."""
        raised: list[Alert | None] = []
        while True:
            with self._transaction():
                seen, found = self._consider_pending("", ())
                raised += found
            if seen < SCAN_CHUNK:
                break
        return self.announce(raised)

    def raise_for_inputs(self, input_pks: list[int]) -> list[Alert]:
        """Inside the caller's transaction, the one that stored these inputs (``watch``'s
        IMAP batches, sync.CommitHook): consider their reports there, so each alert commits
        with the report that raised it. Returns the alerts raised; the caller announces them
        (``announce``) once that transaction has committed."""
        if not input_pks:
            return []
        leases.serialize(self.store, "alerts")
        raised: list[Alert | None] = []
        for i in range(0, len(input_pks), SCAN_CHUNK):
            chunk = input_pks[i:i + SCAN_CHUNK]
            where = f" WHERE r.input_id IN ({','.join('?' * len(chunk))})"
            while True:  # an input may hold several reports: a chunk may pend more than one go
                seen, found = self._consider_pending(where, chunk)
                raised += found
                if seen < SCAN_CHUNK:
                    break
        return [a for a in raised if a is not None]

    def _consider_pending(self, where: str, params: Iterable[object]
                          ) -> tuple[int, list[Alert | None]]:
        """Consider up to SCAN_CHUNK pending reports (``where``: which), inside the caller's
        transaction, and strike them from the pending rows; (how many, what they raised)."""
        rows = self.store.conn.execute(
            'SELECT r.id, r.organization, r.report_id, r.dedup_who, r.start, r."end",'
            " r.successful, r.failed, r.policy_domains, i.origin_kind,"
            " i.origin_account, i.origin_folder, i.imported_at, i.id AS input_id"
            " FROM alert_pending_reports q JOIN reports r ON r.id = q.report_pk"
            f" JOIN raw_inputs i ON i.id = r.input_id{where} ORDER BY q.report_pk LIMIT ?",
            (*params, SCAN_CHUNK),
        ).fetchall()
        if not rows:
            return 0, []
        forged = _forged_verdicts(self.store, [int(r["input_id"]) for r in rows],
                                  self.settings.require_aligned_dkim)
        raised: list[Alert | None] = []
        for row in rows:
            raised.extend(self._consider_report(row, forged))
        pks = [int(r["id"]) for r in rows]
        self.store.conn.execute(
            f"DELETE FROM alert_pending_reports WHERE report_pk IN ({','.join('?' * len(pks))})",
            pks)
        return len(rows), raised

    def _consider_report(self, row: Any, forged: Mapping[int, str]) -> list[Alert | None]:
        domains = [d for d in str(row["policy_domains"]).split(",") if d.strip()] or ["?"]
        for domain in domains:  # a sender that reports again closes its gap
            db.delete_state(self.store, f"gap:{domain.strip().lower()}|{row['dedup_who']}")
        if row["origin_kind"] == "file":
            return []  # a manual import: the person running it sees the result
        verdict = forged.get(int(row["input_id"]))
        if row["origin_kind"] == "imap":
            folder = f"{row['origin_account']}/{row['origin_folder']}"
            if db.get_state(self.store, f"first-sync-done:{folder}") is None:
                self._count_backlog(folder, row, domains, bool(verdict))
                return []
        key = f"{row['dedup_who']}|{row['report_id']}|{row['start']}|{row['end']}"
        if verdict:
            return [self._raise(self._forged_alert(row, domains, verdict))]
        if int(row["failed"]) <= 0:
            return []
        end, arrived = _parse(row["end"]), _parse(row["imported_at"])
        if end is not None and arrived is not None and arrived - end > LATE:
            return []  # late or re-sent: counted in the tables, not announced
        return [self._raise(self._failures_alert(row, domains, key))]

    def report_failures(self, report_pk: int) -> list[Alert]:
        """Announce one stored report's failures now, whatever its origin or age (the demo;
        a person asking to re-send). Same dedup key as the scan's: never twice."""
        with self._transaction():
            row = self.store.conn.execute(
                'SELECT r.id, r.organization, r.report_id, r.dedup_who, r.start, r."end",'
                " r.successful, r.failed, r.policy_domains, r.input_id FROM reports r"
                " WHERE r.id = ?",
                (report_pk,),
            ).fetchone()
            if row is None or int(row["failed"]) <= 0:
                return []
            domains = [d for d in str(row["policy_domains"]).split(",") if d.strip()] or ["?"]
            verdict = _forged_verdicts(self.store, [int(row["input_id"])],
                                       self.settings.require_aligned_dkim).get(int(row["input_id"]))
            if verdict:  # a DKIM-failing report never announces its failures
                raised = [self._raise(self._forged_alert(row, domains, verdict))]
            else:
                key = f"{row['dedup_who']}|{row['report_id']}|{row['start']}|{row['end']}"
                raised = [self._raise(self._failures_alert(row, domains, key))]
        return self.announce(raised)

    def _forged_alert(self, row: Any, domains: list[str], verdict: str) -> Alert:
        """One per input: the report's failures are not announced as real."""
        return Alert(
            "report.forged", f"report.forged:{row['input_id']}", "warning", domains[0],
            f"report from {safe_line(row['organization'], 80)} failed DKIM ({verdict}): "
            "its failures are not announced",
            {"organization": row["organization"], "report_id": row["report_id"],
             "dkim": verdict},
            body=f"The report mail {row['report_id']} claiming to come from "
                 f"{row['organization']} failed DKIM ({verdict}). Its failures are not "
                 f"announced as real.\n\nMore: tlsrpt-tui show {row['id']}",
            raised_at=_iso(self.clock()), report_pk=int(row["id"]),
        )

    def _failures_alert(self, row: Any, domains: list[str], key: str) -> Alert:
        pk = int(row["id"])
        q = self.store.conn.execute
        counts = {
            str(r[0]): int(r[1])
            for r in q(
                "SELECT fd.result_type, sum(fd.failed_session_count) FROM failure_details fd"
                " JOIN policies p ON p.id = fd.policy_pk WHERE p.report_pk = ?"
                " GROUP BY fd.result_type",
                (pk,),
            )
        }
        bad = [str(r[0]) for r in q(
            "SELECT DISTINCT policy_domain FROM policies WHERE report_pk = ? AND failed > 0"
            " ORDER BY policy_domain", (pk,))]
        domain = (bad or domains)[0].strip().lower()
        where = sorted({
            safe_line(" ".join(x for x in (r[0], r[1]) if x), 120)
            for r in q(
                "SELECT fd.receiving_mx_hostname, fd.receiving_ip FROM failure_details fd"
                " JOIN policies p ON p.id = fd.policy_pk WHERE p.report_pk = ?"
                " AND (fd.receiving_mx_hostname IS NOT NULL OR fd.receiving_ip IS NOT NULL)",
                (pk,),
            )
        })[:20]
        failed, organization = int(row["failed"]), str(row["organization"])
        body = failures_body(
            domain=domain, organization=organization, report_id=row["report_id"],
            start=row["start"], end=row["end"], successful=int(row["successful"]),
            failed=failed, counts=counts, where=where,
            live_status=self.live_status(domain), report_pk=pk,
        )
        return Alert(
            "report.failures", f"report.failures:{key}",
            "error" if failed else "warning", domain,
            failures_summary(failed, organization, counts),
            {"organization": organization, "report_id": row["report_id"],
             "start": row["start"], "end": row["end"], "failed": failed,
             "successful": int(row["successful"]), "result_types": counts,
             "receiving": where, "domains": bad or domains},
            body=body, raised_at=_iso(self.clock()), report_pk=pk,
        )

    def live_status(self, domain: str) -> list[str]:
        """The status items of the domain's last stored check, one line each."""
        last = check_store.latest(self.store, domain)
        if last is None:
            return []
        status = DomainStatus.from_json(last)
        return [
            f"{item.label}: {item.severity} — {safe_line(item.summary, 160)}"
            for item in group_findings(status.findings)
        ] + [f"(checked {status.checked_at})"]

    def _count_backlog(self, folder: str, row: Any, domains: list[str], forged: bool) -> None:
        """One more report of a folder's first sync; a forged one (DKIM) is counted as such,
        never as a report with failures (its failures are not real)."""
        name = f"backlog:{folder}"
        value = db.get_state(self.store, name) or {"reports": 0, "failed": 0, "domains": {}}
        value["reports"] += 1
        if forged:
            value["forged"] = value.get("forged", 0) + 1
        elif int(row["failed"]) > 0:
            value["failed"] += 1
        for d in domains:
            d = d.strip().lower()
            value["domains"][d] = value["domains"].get(d, 0) + 1
        db.set_state(self.store, name, value)

    def folder_synced(self, account: str, folder: str) -> list[Alert]:
        """A sync pass of a folder finished: after the first, one summary of what it stored."""
        where = f"{account}/{folder}"
        if db.get_state(self.store, f"first-sync-done:{where}") is not None:
            return []
        self.scan_reports()  # what the pass stored belongs to the backlog
        raised: list[Alert | None] = []
        with self._transaction():
            if db.get_state(self.store, f"first-sync-done:{where}") is not None:
                return []
            backlog = db.get_state(self.store, f"backlog:{where}")
            if backlog and backlog["reports"] > 0:
                top = sorted(backlog["domains"].items(), key=lambda kv: (-kv[1], kv[0]))
                domain = top[0][0] if len(top) == 1 else ", ".join(d for d, _ in top[:3])
                n, bad, fake = backlog["reports"], backlog["failed"], backlog.get("forged", 0)
                summary = (f"first sync of {safe_line(where, 80)} stored {n} report(s), "
                           f"{bad} with failures")
                if fake:
                    summary += f", {fake} forged (DKIM fail)"
                raised.append(self._raise(Alert(
                    "report.backlog", f"report.backlog:{where}", "info" if not bad else
                    "warning", safe_line(domain, 120), summary,
                    {"account": account, "folder": folder, "reports": n, "with_failures": bad,
                     "forged": fake, "domains": dict(top[:20])},
                    body=f"The first sync of {where} stored {n} report(s); {bad} of them "
                         "report failed sessions. They are not announced one by one; from "
                         "now on each new report with failures is."
                         + (f"\n{fake} report mail(s) failed DKIM (forged or altered): their "
                            "failures are not counted above." if fake else "")
                         + "\n\nMore: tlsrpt-tui failures   (or the TUI's inbox)",
                    raised_at=_iso(self.clock()),
                )))
            db.set_state(self.store, f"first-sync-done:{where}", {"at": _iso(self.clock())})
            db.delete_state(self.store, f"backlog:{where}")
        return self.announce(raised)

    # -- silent senders --------------------------------------------------------------------------

    def scan_gaps(self) -> list[Alert]:
        """``report.gap``: a sender that reported for a domain on >= 5 of the 7 days before
        its last report, and has been silent for ``report_gap_hours`` since."""
        now = self.clock()
        gap = timedelta(hours=self.settings.report_gap_hours)
        # Far enough back to see the rhythm before a silence that began up to 30 days ago.
        since = _iso(now - gap - timedelta(days=38))
        rows = self.store.conn.execute(
            "SELECT p.policy_domain, r.dedup_who, max(r.organization), substr(r.start, 1, 10),"
            ' max(r."end") FROM policies p JOIN reports r ON r.id = p.report_pk'
            " WHERE p.start >= ? GROUP BY p.policy_domain, r.dedup_who, substr(r.start, 1, 10)",
            (since,),
        ).fetchall()
        senders: dict[tuple[str, str], dict[str, Any]] = {}
        for domain, who, org, day, end in rows:
            s = senders.setdefault((str(domain).lower(), str(who)),
                                   {"org": org, "days": set(), "last": "", "last_day": ""})
            s["days"].add(day)
            s["last"] = max(s["last"], end)
            s["last_day"] = max(s["last_day"], day)
        raised: list[Alert | None] = []
        with self._transaction():
            for (domain, who), s in sorted(senders.items()):
                last = _parse(s["last"])
                if last is None or now - last < gap:
                    continue
                # the 7 days (report start dates) up to and including its last report's
                last_day = datetime.fromisoformat(s["last_day"]).date()
                window = {(last_day - timedelta(days=i)).isoformat() for i in range(7)}
                if len(s["days"] & window) < 5:
                    continue
                name = f"gap:{domain}|{who}"
                key = f"report.gap:{domain}|{who}|{s['last']}"
                remind, state = "", db.get_state(self.store, name)
                # {"last": end of its last report, "at": when announced} (a plain string: the
                # last report's end, as stored before reminders)
                seen = state.get("last") if isinstance(state, dict) else state
                if seen == s["last"]:  # announced: still silent
                    at = _parse(state.get("at")) if isinstance(state, dict) else None
                    round_ = self._reminder(at or last + gap, now)
                    if round_ == 0:
                        continue
                    key, remind = f"{key}|remind-{round_}", " (reminder)"
                else:
                    db.set_state(self.store, name, {"last": s["last"], "at": _iso(now)})
                hours = int((now - last).total_seconds() // 3600)
                org = safe_line(s["org"], 80)
                raised.append(self._raise(Alert(
                    "report.gap", key, "warning", domain,
                    f"no report from {org} for {hours} hours (it reported daily){remind}",
                    {"organization": s["org"], "last_report_end": s["last"], "hours": hours},
                    body=f"{org} reported for {domain} on {len(s['days'] & window)} of the 7 "
                         f"days before {s['last']}, and nothing since ({hours} hours). Either "
                         "its reports no longer reach you (check the rua= of the TLS-RPT "
                         "record and the mailbox), or it stopped sending mail to you.\n\n"
                         f"More: tlsrpt-tui inbox --filter {who}",
                    raised_at=_iso(now),
                )))
        return self.announce(raised)

    # -- live checks ---------------------------------------------------------------------------

    def store_check(self, status: DomainStatus,
                    fence: Callable[[Store], None] | None = None) -> tuple[int, list[Alert]]:
        """Store one check result and the alerts it raises, in one transaction (refused by
        ``fence``, the domain's lease, when another worker took the check over)."""
        raised: list[Alert | None] = []
        with self._transaction():
            if fence is not None:
                fence(self.store)
            rid = check_store.insert(self.store, status.to_json())
            raised += self._check_changed(status, rid)
            raised += self._check_expiring(status)
        return rid, self.announce(raised)

    def _check_changed(self, status: DomainStatus, rid: int) -> list[Alert | None]:
        domain = status.domain
        items = {i.key: i for i in group_findings(status.findings)}
        known = db.states_with_prefix(self.store, f"item:{domain}|")
        out: list[Alert | None] = []
        for key in sorted(set(items) | {k.split("|", 1)[1] for k in known}):
            name = f"item:{domain}|{key}"
            item = items.get(key)
            now_sev = item.severity if item is not None else Severity.OK
            before = known.get(name)
            before_sev = Severity(before["severity"]) if before else Severity.OK
            label = item.label if item is not None else (before or {}).get("label", key)
            if item is not None:
                db.set_state(self.store, name, {"severity": str(now_sev), "label": label})
            elif before is not None:
                db.delete_state(self.store, name)
            was_bad, is_bad = before_sev.rank >= self.min_rank, now_sev.rank >= self.min_rank
            if was_bad == is_bad:
                continue
            verb = "broke" if is_bad else "recovered"
            what = safe_line(item.summary, 200) if item is not None else "no finding any more"
            lines = [f"{label} {verb}: {before_sev} → {now_sev}.", f"Now: {what}"]
            if item is not None:
                for f in item.findings:
                    lines.append(f"- {f.severity} {f.code} ({safe_line(f.subject, 100)}): "
                                 f"{safe_line(f.message, 300)}")
                    if f.hint:
                        lines.append(f"  Fix: {safe_line(f.hint, 300)}")
                    if f.result_type:
                        lines += ["  Senders would report:", *[
                            "  " + x for x in result_type_lines({f.result_type: 1})]]
            lines += ["", f"Live status of {domain}:", *[f"- {x}" for x in
                      self._status_lines(status)], "", f"More: tlsrpt-tui check {domain}"]
            out.append(self._raise(Alert(
                "check.changed", f"check.changed:{domain}|{key}|{rid}",
                str(now_sev) if is_bad else "info", domain,
                f"{safe_line(label, 80)} {verb} ({before_sev} → {now_sev})",
                {"item": label, "from": str(before_sev), "to": str(now_sev), "change": verb,
                 "check_id": rid, "checked_at": status.checked_at},
                body="\n".join(lines), raised_at=_iso(self.clock()),
            )))
        return out

    def _status_lines(self, status: DomainStatus) -> list[str]:
        return [f"{i.label}: {i.severity} — {safe_line(i.summary, 160)}"
                for i in group_findings(status.findings)]

    def _check_expiring(self, status: DomainStatus) -> list[Alert | None]:
        out: list[Alert | None] = []
        now = self.clock()
        for f in status.findings:
            if not f.code.endswith("expiring-soon"):
                continue
            cert = f"{status.domain}|{f.code}|{f.subject}|{_expiry_of(f)}"
            name = f"expiring:{cert}"
            first = db.get_state(self.store, name)
            round_ = 0
            if first is not None:
                remind = self.settings.remind_hours
                if remind <= 0:
                    continue
                since = now - (_parse(first) or now)
                round_ = int(since.total_seconds() // (remind * 3600))
                if round_ == 0:
                    continue
            else:
                db.set_state(self.store, name, _iso(now))
            key = f"check.expiring:{cert}" + (f"|remind-{round_}" if round_ else "")
            out.append(self._raise(Alert(
                "check.expiring", key, "warning", status.domain,
                f"certificate of {safe_line(f.subject, 100)} expires soon"
                + (" (reminder)" if round_ else ""),
                {"host": f.subject, "code": f.code, "message": f.message},
                body=f"{safe_line(f.message, 300)}\nFix: {safe_line(f.hint, 300)}\n\n"
                     f"More: tlsrpt-tui check {status.domain}",
                raised_at=_iso(now),
            )))
        return out

    # -- workers and channels ------------------------------------------------------------------

    def workers(self, states: Mapping[str, WorkerState]) -> list[Alert]:
        """``sync.failing``: an account whose folders have failed for 30 minutes, and its
        recovery."""
        now = self.clock()
        per_account: dict[str, list[WorkerState]] = {}
        for name, state in states.items():
            if name.startswith("imap "):
                account = name[5:].split("/", 1)[0]
                per_account.setdefault(account, []).append(state)
        raised: list[Alert | None] = []
        with self._transaction():
            for account, group in sorted(per_account.items()):
                name = f"syncfail:{account}"
                open_ = db.get_state(self.store, name)
                failing = [s for s in group if s.failing]
                if failing and open_ is None:
                    since = min(s.since for s in failing)
                    if now - since < FAILING_FOR:
                        continue
                    reason = safe_line(failing[0].reason, 300)
                    db.set_state(self.store, name, _iso(since))
                    raised.append(self._raise(Alert(
                        "sync.failing", f"sync.failing:{account}|{_iso(since)}", "error",
                        f"account {account}", f"no sync since {_iso(since)}: {reason}",
                        {"account": account, "since": _iso(since), "reason": reason},
                        body=f"IMAP account {account} has not synced since {_iso(since)} "
                             f"because of errors; new reports are not being read.\nLast "
                             f"error: {reason}\n\nMore: tlsrpt-tui sync --account {account}",
                        raised_at=_iso(now),
                    )))
                elif failing and open_ is not None:  # still failing: a reminder when due
                    since = _parse(open_) or now
                    round_ = self._reminder(since + FAILING_FOR, now)
                    if round_ == 0:
                        continue
                    reason = safe_line(failing[0].reason, 300)
                    raised.append(self._raise(Alert(
                        "sync.failing", f"sync.failing:{account}|{open_}|remind-{round_}",
                        "error", f"account {account}",
                        f"still no sync since {open_}: {reason} (reminder)",
                        {"account": account, "since": open_, "reason": reason,
                         "reminder": round_},
                        body=f"IMAP account {account} has still not synced since {open_}; "
                             f"new reports are not being read.\nLast error: {reason}\n\n"
                             f"More: tlsrpt-tui sync --account {account}",
                        raised_at=_iso(now),
                    )))
                elif open_ is not None and _recovered(group):
                    db.delete_state(self.store, name)
                    raised.append(self._raise(Alert(
                        "sync.failing", f"sync.failing:{account}|{open_}|recovered", "info",
                        f"account {account}", f"syncing again (failing since {open_})",
                        {"account": account, "since": open_, "recovered": True},
                        body=f"IMAP account {account} syncs again; it had failed since "
                             f"{open_}.",
                        raised_at=_iso(now),
                    )))
        return self.announce(raised)

    def channels_failing(self) -> list[Alert]:
        """``alert.delivery``: a channel failing for 30 minutes, sent on the OTHER channels."""
        now = self.clock()
        raised: list[Alert | None] = []
        with self._transaction():
            for name, value in db.states_with_prefix(self.store, "channel:").items():
                channel = name.split(":", 1)[1]
                since = _parse(value.get("since"))
                if since is None or now - since < FAILING_FOR:
                    continue
                key, remind = f"alert.delivery:{channel}|{value['since']}", ""
                if value.get("alerted"):  # announced: still failing, a reminder when due
                    round_ = self._reminder(_parse(value.get("alerted_at"))
                                            or since + FAILING_FOR, now)
                    if round_ == 0:
                        continue
                    key, remind = f"{key}|remind-{round_}", " (reminder)"
                else:
                    db.set_state(self.store, name, {**value, "alerted": True,
                                                    "alerted_at": _iso(now)})
                others = [c for c in self.channels if c != channel]
                error = safe_line(value.get("error", ""), 300)
                raised.append(self._raise(Alert(
                    "alert.delivery", key, "error",
                    "alert delivery", f"{safe_line(channel, 80)} failing since "
                    f"{value['since']}: {error}{remind}",
                    {"channel": channel, "since": value["since"], "error": error},
                    body=f"Alerts to {channel} have failed since {value['since']}; they wait "
                         f"in the store and are retried.\nLast error: {error}",
                    raised_at=_iso(now),
                ), channels=others))
        return self.announce(raised)


def _fields(alert: Alert) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in Alert.__dataclass_fields__}


def _expiry_of(f: Finding) -> str:
    """Which certificate an expiring-soon finding is about: its notAfter date and, when the
    finding names it, its key (``SPKI SHA-256 <hex>``), as alerts.md keys ``check.expiring``."""
    words = f.message.replace(";", " ").replace(")", " ").split()
    date = next((w for w in words if len(w) == 10 and w[4] == "-" and w[7] == "-"),
                f.message[:60])
    spki = next((b for a, b in itertools.pairwise(words) if a == "SHA-256"), "")
    return f"{date}|{spki}" if spki else date


# -- report.forged: the DKIM verdict of an input ------------------------------------------------

def _forged_verdicts(store: Store, input_pks: list[int], require_aligned: bool) -> dict[int, str]:
    """input pk -> why its report is treated as forged ("fail", "unaligned"), from the DKIM
    verdict stored with each input on arrival (service/dkim.py). Inputs that are not mail (or
    were not verified) have no verdict and are never forged."""
    if not input_pks:
        return {}
    marks = ",".join("?" * len(input_pks))
    out: dict[int, str] = {}
    for pk, result, aligned in store.conn.execute(
        f"SELECT id, dkim_result, dkim_aligned FROM raw_inputs WHERE id IN ({marks})"
        " AND dkim_result IS NOT NULL", input_pks
    ):
        if result == "fail":
            out[int(pk)] = "fail"
        elif require_aligned and not aligned:
            out[int(pk)] = "unaligned"
    return out


# -- reading, for the fronts -------------------------------------------------------------------


def recent_alerts(store: Store, limit: int = 200) -> list[db.ListedAlert]:
    """Alerts newest first with their delivery state per channel (the TUI's alerts screen)."""
    return db.recent(store, limit)


def failing_channels(store: Store) -> dict[str, dict[str, Any]]:
    """Channel name -> {"since", "error"} for each channel failing right now (the sync line)."""
    return {
        name.split(":", 1)[1]: value
        for name, value in db.states_with_prefix(store, "channel:").items()
    }


def _recovered(group: list[WorkerState]) -> bool:
    """An account's folders sync again: every one running (or standing by while another
    worker has it), at least one running here."""
    return (all(s.state in ("running", "standby") for s in group)
            and any(s.state == "running" for s in group))
