"""The demo's alerts tell the same story as its stored checks and reports.

The demo is what a new user reads first; an alert saying "STARTTLS mx2 broke (ok → warning)"
raised today beside a check that says mx2's certificate expired days ago contradicts it. Every
``check.changed`` alert must name the transition between two stored checks of its domain and be
raised when the later of them ran (before the next one); every ``check.expiring`` alert must be
raised by a check that found the certificate expiring; report alerts must name stored reports.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tlsrpt_tui.core.findings import DomainStatus, Severity
from tlsrpt_tui.core.status_items import group_findings
from tlsrpt_tui.demo.store import build_demo_store


def _at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def test_every_demo_alert_matches_the_stored_checks_and_reports(tmp_path: Path) -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    store, _ = build_demo_store(tmp_path / "demo.sqlite3", now=now)
    with store:
        checks: dict[str, list[tuple[int, DomainStatus]]] = {}
        for pk, domain, checked_at, status, findings in store.conn.execute(
            "SELECT id, domain, checked_at, status, findings_json FROM check_results"
            " ORDER BY checked_at, id"
        ):
            checks.setdefault(domain, []).append((int(pk), DomainStatus.from_json({
                "domain": domain, "checked_at": checked_at, "status": status,
                "findings": json.loads(findings)})))
        alerts = store.conn.execute(
            "SELECT code, domain, summary, details_json, raised_at, report_pk FROM alerts"
            " ORDER BY id").fetchall()
        assert {a["code"] for a in alerts} >= {"check.changed", "check.expiring",
                                               "report.failures", "report.forged"}

        for a in alerts:
            details, raised = json.loads(a["details_json"]), _at(a["raised_at"])
            assert raised <= now, a["summary"]
            if a["code"] == "check.changed":
                runs = checks[a["domain"]]
                at = next(i for i, (pk, _) in enumerate(runs) if pk == details["check_id"])
                status = runs[at][1]
                severity = {i.label: i.severity for i in group_findings(status.findings)}
                before = ({i.label: i.severity for i in group_findings(runs[at - 1][1].findings)}
                          if at > 0 else {})
                assert str(severity.get(details["item"], Severity.OK)) == details["to"], a
                assert str(before.get(details["item"], Severity.OK)) == details["from"], a
                assert f"({details['from']} → {details['to']})" in a["summary"]
                assert raised >= _at(status.checked_at), a["summary"]
                if at + 1 < len(runs):  # raised by that check, not by a later one
                    assert raised < _at(runs[at + 1][1].checked_at), a["summary"]
            elif a["code"] == "check.expiring":
                warned = [s for _, s in checks[a["domain"]] if _at(s.checked_at) <= raised
                          and any(f.code.endswith("expiring-soon") and f.subject == details["host"]
                                  for f in s.findings)]
                assert warned, f"no check found {details['host']} expiring before {raised}"
                assert _at(warned[-1].checked_at) == raised, a["summary"]
            elif a["code"] in ("report.failures", "report.forged"):
                row = store.conn.execute(
                    "SELECT r.failed, r.organization, i.dkim_result FROM reports r"
                    " JOIN raw_inputs i ON i.id = r.input_id WHERE r.id = ?",
                    (a["report_pk"],)).fetchone()
                assert row is not None
                assert row["organization"] == details["organization"]
                if a["code"] == "report.forged":
                    assert row["dkim_result"] == "fail"
                else:
                    assert row["dkim_result"] != "fail"
                    assert row["failed"] == details["failed"] > 0
