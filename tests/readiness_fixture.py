"""A store for the readiness tests: four domains with known reports and stored live checks.

Days are counted back from ``today`` (0 = today), so the store is always "recent". Figures:

- testing.example, MTA-STS testing (the live check's policy says so):
  Google Inc. on days 1-10: 200 ok + 3 certificate-host-mismatch at mx2 each day
  (2,000 ok, 30 failed); Microsoft Corporation on days 15-22: 50 ok + 1 sts-policy-fetch-error
  each (400 ok, 8 failed), then silence. The latest check still shows tls.host-mismatch at mx2.
- enforce.example, MTA-STS enforce (mode from the reports) and DANE:
  Google Inc. on days 1-10, STS: 500 ok each, plus 4 certificate-expired at mx1 on day 3;
  TLSA: 500 ok each. Checks: tls.expired at mx1 on day 4, clean on days 3 and 1.
- none.example: no reports; its check finds no TLS-RPT record.
- fixed.example, MTA-STS testing (mode from the reports): Google Inc. on days 1-8, 100 ok
  each, plus 5 certificate-expired at mx2 on days 5-8. Checks: tls.expired at mx2 on day 6,
  clean on day 4 and day 1.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from report_factory import failure, report, sts_policy, tlsa_policy, to_json

from tlsrpt_tui.core.checks.catalogue import finding, worst
from tlsrpt_tui.core.findings import DomainStatus, Finding
from tlsrpt_tui.core.model import Origin, RawInput
from tlsrpt_tui.service.ingest import ingest_stream
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store.database import Store

GOOGLE = "Google Inc."
MICROSOFT = "Microsoft Corporation"


def day(today: date, back: int) -> date:
    return today - timedelta(days=back)


def at(today: date, back: int, hour: int = 12, minute: int = 0) -> str:
    return datetime.combine(day(today, back), time(hour, minute), UTC).isoformat()


def _reports(today: date) -> list[dict]:
    out = []
    for k in range(1, 11):
        d = day(today, k).isoformat()
        out.append(report(GOOGLE, f"g-testing-{k}", d, [sts_policy(
            "testing.example", 200, 3, mode="testing",
            mx=("mx1.testing.example", "mx2.testing.example"),
            details=[failure("certificate-host-mismatch", 3, sending="192.0.2.1",
                             mx="mx2.testing.example", ip="198.51.100.2")],
        )]))
        sts = sts_policy("enforce.example", 500, 4 if k == 3 else 0,
                         mode="enforce", mx=("mx1.enforce.example",),
                         details=[failure("certificate-expired", 4, mx="mx1.enforce.example")]
                         if k == 3 else None)
        out.append(report(GOOGLE, f"g-enforce-{k}", d, [
            sts, tlsa_policy("enforce.example", 500, 0)]))
    for k in range(15, 23):
        out.append(report(MICROSOFT, f"m-testing-{k}", day(today, k).isoformat(), [sts_policy(
            "testing.example", 50, 1, mode="testing",
            mx=("mx1.testing.example", "mx2.testing.example"),
            details=[failure("sts-policy-fetch-error", 1, sending="203.0.113.9")],
        )]))
    for k in range(1, 9):
        failed = 5 if k >= 5 else 0
        out.append(report(GOOGLE, f"g-fixed-{k}", day(today, k).isoformat(), [sts_policy(
            "fixed.example", 100, failed, mode="testing", mx=("mx1.fixed.example",
                                                              "mx2.fixed.example"),
            details=[failure("certificate-expired", 5, mx="mx2.fixed.example")]
            if failed else None,
        )]))
    return out


def _status(domain: str, when: str, findings: list[Finding], mxs: tuple[str, ...],
            policy: str | None = None) -> dict:
    records: dict = {"mx": [f"{10 * (i + 1)} {m}" for i, m in enumerate(mxs)],
                     "probe": {m: {} for m in mxs}}
    if policy is not None:
        records["policy"] = policy
    return DomainStatus(domain, when, worst(findings), records, findings).to_json()


def _tls_ok(mxs: tuple[str, ...], bad: dict[str, str] | None = None) -> list[Finding]:
    bad = bad or {}
    return [finding(bad[m], m, "as probed") if m in bad else finding("tls.ok", m) for m in mxs]


def checks(today: date) -> list[dict]:
    t_mx = ("mx1.testing.example", "mx2.testing.example")
    e_mx = ("mx1.enforce.example",)
    f_mx = ("mx1.fixed.example", "mx2.fixed.example")
    testing_policy = ("version: STSv1\nmode: testing\nmx: mx1.testing.example\n"
                      "mx: mx2.testing.example\nmax_age: 604800\n")
    return [
        _status("testing.example", at(today, 0, 6),
                _tls_ok(t_mx, {"mx2.testing.example": "tls.host-mismatch"}), t_mx,
                testing_policy),
        _status("enforce.example", at(today, 4), _tls_ok(e_mx, {e_mx[0]: "tls.expired"}), e_mx),
        _status("enforce.example", at(today, 3), _tls_ok(e_mx), e_mx),
        _status("enforce.example", at(today, 1), _tls_ok(e_mx), e_mx),
        _status("none.example", at(today, 0, 6),
                [finding("tlsrpt.missing", "_smtp._tls.none.example")], ("mx.none.example",)),
        _status("fixed.example", at(today, 6, 8), _tls_ok(f_mx, {f_mx[1]: "tls.expired"}), f_mx),
        _status("fixed.example", at(today, 4, 9, 30), _tls_ok(f_mx), f_mx),
        _status("fixed.example", at(today, 1, 9, 30), _tls_ok(f_mx), f_mx),
    ]


def build(path: Path, today: date) -> Store:
    store = Store(path)
    items = [RawInput(f"{r['report-id']}.json", to_json(r), Origin("file", r["report-id"]))
             for r in _reports(today)]
    ingest_stream(store, items)
    for result in checks(today):
        check_store.save(store, result)
    return store
