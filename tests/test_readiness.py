"""Enforce readiness: exact figures and wording from a fixture store (tests/readiness_fixture.py).

Every expected figure is worked out by hand from the fixture's docstring, not read back from
the code: a change in the aggregation or the wording shows here.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import readiness_fixture as fx
from cli_helpers import run_cli

from tlsrpt_tui.core import readiness as core
from tlsrpt_tui.service.readiness import readiness

DOMAINS = ["testing.example", "enforce.example", "none.example", "fixed.example"]


@pytest.fixture
def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def store(new_db, today):
    """The fixture store, once per backend (the readiness queries are SQL on each)."""
    s = fx.build(new_db("r"), today)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path, today):
    """The fixture store as an SQLite file, for the CLI tests (one backend is enough there)."""
    s = fx.build(tmp_path / "r.sqlite3", today)
    yield s
    s.close()


def _by_key(answers):
    return {(a.domain, a.policy_type): a for a in answers}


def test_testing_domain_with_a_failure_still_failing(store, today) -> None:
    a = _by_key(readiness(store, DOMAINS, today=today))[("testing.example", "sts")]
    # Google: 10 days x (200 ok + 3 failed); Microsoft: 8 days x (50 ok + 1 failed).
    assert (a.sessions, a.successful, a.failed) == (2438, 2400, 38)
    assert (a.reports, a.report_days) == (18, 18)
    assert (a.lost, a.policy_unavailable, a.unexplained) == (30, 8, 0)
    assert (a.mode, a.mode_source, a.question) == ("testing", "live check", "switch")
    assert (a.verdict, a.ready) == ("failing", False)
    assert a.by_result_type == {"certificate-host-mismatch": 30, "sts-policy-fetch-error": 8}
    assert a.by_mx == {"mx2.testing.example": 30}
    assert a.summary == (
        "switching MTA-STS to enforce would have bounced or deferred 30 of 2,438 sessions "
        "(1.2 %), all certificate-host-mismatch at mx2.testing.example, reported by "
        "Google Inc.: not ready, still failing now"
    )
    [mismatch, fetch] = a.causes
    assert (mismatch.live, mismatch.loses_mail) == ("failing", True)
    assert mismatch.live_text.startswith("still failing now (tls.host-mismatch:")
    assert (fetch.result_type, fetch.sessions, fetch.loses_mail) == (
        "sts-policy-fetch-error", 8, False)
    google, microsoft = a.reporters
    assert (google.organization, google.days, google.sessions, google.silent_days) == (
        fx.GOOGLE, 10, 2030, 0)
    # Its last report covers day 15: days 14..1 passed without one.
    assert (microsoft.days, microsoft.sessions, microsoft.silent_days, microsoft.stopped) == (
        8, 408, 14, True)
    assert "Microsoft Corporation has not reported for 14 days: too little data from it" in (
        a.notes)


def test_enforce_domain_says_what_enforce_and_dane_cost(store, today) -> None:
    answers = _by_key(readiness(store, DOMAINS, today=today))
    sts = answers[("enforce.example", "sts")]
    assert (sts.sessions, sts.lost, sts.question, sts.mode_source) == (
        5004, 4, "cost", "reports")
    fixed_day = fx.day(today, 3).isoformat()  # the first clean check after the failing one
    assert (sts.verdict, sts.ready) == ("fixed", True)
    assert sts.summary == (
        "MTA-STS enforce bounced or deferred 4 of 5,004 sessions (0.1 %), all "
        f"certificate-expired at mx1.enforce.example, reported by Google Inc.: fixed since "
        f"{fixed_day}"
    )
    assert sts.causes[0].since == fx.at(today, 3)
    dane = answers[("enforce.example", "tlsa")]
    assert (dane.sessions, dane.lost, dane.verdict, dane.question) == (5000, 0, "clean", "cost")
    assert dane.summary == "DANE deferred 0 of 5,000 sessions: DANE costs nothing"


def test_domain_without_reports(store, today) -> None:
    [a] = [x for x in readiness(store, DOMAINS, today=today) if x.domain == "none.example"]
    assert (a.policy_type, a.verdict, a.ready, a.sessions) == (None, "no-reports", None, 0)
    assert a.summary == (
        "no TLS-RPT reports for none.example in the last 30 days: nothing to judge enforce by; "
        "no TLS-RPT record is published, so no sender reports (tlsrpt-tui records none.example)"
    )


def test_failing_mx_fixed_now(store, today) -> None:
    a = _by_key(readiness(store, DOMAINS, today=today))[("fixed.example", "sts")]
    assert (a.sessions, a.failed, a.lost, a.report_days) == (820, 20, 20, 8)
    assert (a.verdict, a.ready, a.question) == ("fixed", True, "switch")
    fixed_day = fx.day(today, 4).isoformat()
    assert a.summary == (
        "switching MTA-STS to enforce would have bounced or deferred 20 of 820 sessions "
        "(2.4 %), all certificate-expired at mx2.fixed.example, reported by Google Inc.: "
        f"ready, fixed since {fixed_day}"
    )
    assert a.causes[0].live_text == (
        f"mx2.fixed.example's certificate is valid now: fixed since {fixed_day}")


def test_window_leaves_older_reports_out(store, today) -> None:
    # --days 10: Microsoft's reports (days 15-22) fall outside; Google's days 1-9 remain.
    a = _by_key(readiness(store, ["testing.example"], today=today, days=10))[
        ("testing.example", "sts")]
    assert (a.sessions, a.failed, a.policy_unavailable, a.reporters[0].days) == (
        9 * 203, 27, 0, 9)


def test_cli_table_exact(sqlite_store, today, tmp_path) -> None:
    sqlite_store.close()
    res = run_cli("readiness", "testing.example", "fixed.example",
                  db=tmp_path / "r.sqlite3")
    assert res.returncode == 1, res.stderr  # testing.example is failing
    d = {k: fx.day(today, k).isoformat() for k in (0, 1, 4, 15, 29)}
    assert res.stdout == f"""\
fixed.example  MTA-STS (testing, from the reports)  READY (FIXED)
switching MTA-STS to enforce would have bounced or deferred 20 of 820 sessions (2.4 %), \
all certificate-expired at mx2.fixed.example, reported by Google Inc.: ready, fixed since {d[4]}
last 30 days ({d[29]} to {d[0]}): 820 sessions (800 ok, 20 failed) in 8 reports on 8 days
failures by cause:
  20  certificate-expired at mx2.fixed.example  (Google Inc.)
      mx2.fixed.example's certificate is valid now: fixed since {d[4]}
reporters:
  Google Inc.   8 days  820 sessions  20 failed  last report {d[1]}
live findings from the check of {fx.at(today, 1, 9, 30)}

testing.example  MTA-STS (testing, from the live check)  NOT READY
switching MTA-STS to enforce would have bounced or deferred 30 of 2,438 sessions (1.2 %), \
all certificate-host-mismatch at mx2.testing.example, reported by Google Inc.: not ready, \
still failing now
last 30 days ({d[29]} to {d[0]}): 2,438 sessions (2,400 ok, 38 failed) in 18 reports on 18 days
failures by cause:
  30  certificate-host-mismatch at mx2.testing.example  (Google Inc.)
      still failing now (tls.host-mismatch: the MX host name is not in the certificate's SAN: \
as probed)
   8  sts-policy-fetch-error  (Microsoft Corporation)
      the live checks do not see it (last checked {d[0]})
reporters:
  Google Inc.            10 days  2,030 sessions  30 failed  last report {d[1]}
  Microsoft Corporation   8 days    408 sessions  8 failed  last report {d[15]}, \
nothing for 14 days
note: Microsoft Corporation has not reported for 14 days: too little data from it
note: 8 failed sessions could not get the policy (sts-policy-fetch-error): those senders \
deliver without MTA-STS, enforce or not; fix the policy host
live findings from the check of {fx.at(today, 0, 6)}

"""


def test_cli_json_exact_figures(sqlite_store, today, tmp_path) -> None:
    sqlite_store.close()
    res = run_cli("readiness", *DOMAINS, "--format", "json", db=tmp_path / "r.sqlite3")
    assert res.returncode == 1, res.stderr
    data = json.loads(res.stdout)
    got = {(a["domain"], a["policy_type"]): a for a in data}
    assert sorted(got, key=str) == sorted([
        ("enforce.example", "sts"), ("enforce.example", "tlsa"), ("fixed.example", "sts"),
        ("none.example", None), ("testing.example", "sts")], key=str)
    t = got[("testing.example", "sts")]
    assert {k: t[k] for k in ("sessions", "successful", "failed", "lost", "policy_unavailable",
                              "reports", "report_days", "verdict", "ready", "mode")} == {
        "sessions": 2438, "successful": 2400, "failed": 38, "lost": 30, "policy_unavailable": 8,
        "reports": 18, "report_days": 18, "verdict": "failing", "ready": False,
        "mode": "testing"}
    assert t["window"] == {"since": fx.day(today, 29).isoformat(),
                           "until": today.isoformat(), "days": 30}
    assert [(c["result_type"], c["mx"], c["sessions"], c["live"]) for c in t["causes"]] == [
        ("certificate-host-mismatch", "mx2.testing.example", 30, "failing"),
        ("sts-policy-fetch-error", None, 8, "not-seen")]
    assert [(r["organization"], r["sessions"], r["failed"], r["stopped"])
            for r in t["reporters"]] == [(fx.GOOGLE, 2030, 30, False),
                                         (fx.MICROSOFT, 408, 8, True)]
    assert got[("enforce.example", "sts")]["causes"][0]["fixed_since"] == fx.at(today, 3)
    assert got[("none.example", None)]["verdict"] == "no-reports"


def test_cli_without_failing_answers_exits_0(sqlite_store, tmp_path) -> None:
    sqlite_store.close()
    res = run_cli("readiness", "fixed.example", "enforce.example", db=tmp_path / "r.sqlite3")
    assert res.returncode == 0, res.stderr
    assert "READY (FIXED)" in res.stdout and "CLEAN" in res.stdout


def test_cli_rejects_bad_input(tmp_path) -> None:
    res = run_cli("readiness", "--days", "0", db=tmp_path / "e.sqlite3")
    assert res.returncode == 2 and "'0': must be between 1 and 3660 days" in res.stderr
    res = run_cli("readiness", "a..b", db=tmp_path / "e.sqlite3")
    assert res.returncode == 2 and "'a..b': not a domain name" in res.stderr


# -- pure core: the cases a fixture store does not reach -----------------------------------


def _agg(**kw) -> core.PolicyAggregate:
    base = dict(domain="x.example", policy_type="sts", reports=3, successful=300, failed=0,
                unexplained=0, days=3, first_day=date(2026, 11, 28),
                last_day=date(2026, 11, 30), policy_strings=("version: STSv1", "mode: testing"))
    base.update(kw)
    return core.PolicyAggregate(**base)


def test_too_few_days_is_too_little_data() -> None:
    a = core.assess(_agg(), [], [], today=date(2026, 12, 1), days=30)
    assert (a.verdict, a.ready) == ("too-little-data", None)
    assert a.summary.endswith("only 3 days with reports: too little data")


def test_failures_without_details_are_lost_with_an_unknown_cause() -> None:
    a = core.assess(_agg(days=10, failed=7, unexplained=7), [], [], today=date(2026, 12, 1),
                    days=30)
    assert (a.lost, a.verdict) == (7, "failing")
    assert a.causes[0].live_text == "reported without failure details: the cause is unknown"


def test_no_policy_found_beside_a_published_policy_is_unaffected(new_db) -> None:
    from report_factory import no_policy, report, sts_policy, to_json

    from tlsrpt_tui.core.model import Origin, RawInput
    from tlsrpt_tui.service.ingest import ingest_stream
    from tlsrpt_tui.store.database import Store

    reps = [report("A", "a1", "2026-11-30", [sts_policy("both.example", 10, 0, mode="testing")]),
            report("B", "b1", "2026-11-30", [no_policy("both.example", 4)]),
            report("C", "c1", "2026-11-30", [no_policy("bare.example", 6)])]
    with Store(new_db("n")) as store:
        ingest_stream(store, [RawInput(r["report-id"], to_json(r), Origin("file", r["report-id"]))
                              for r in reps])
        got = _by_key(readiness(store, None, today=date(2026, 12, 1)))
    both = got[("both.example", "no-policy-found")]
    assert (both.verdict, both.sessions) == ("unaffected", 4)
    assert both.summary == ("4 sessions from senders that found no MTA-STS or DANE policy (they "
                            "do not use one, or could not get it): enforce does not change them")
    assert got[("bare.example", "no-policy-found")].verdict == "no-policy"


def test_no_policy_found_asks_to_publish() -> None:
    a = core.assess(_agg(policy_type="no-policy-found", policy_strings=()), [], [],
                    today=date(2026, 12, 1), days=30)
    assert a.verdict == "no-policy"
    assert a.summary == ("senders found no MTA-STS or DANE policy for 300 sessions: publish "
                         "one in testing mode first (tlsrpt-tui records x.example)")


@pytest.mark.parametrize(("part", "whole", "text"), [
    (12, 4210, "0.3 %"), (1, 100000, "under 0.1 %"), (0, 10, "0 %"), (5, 10, "50 %")])
def test_percent(part, whole, text) -> None:
    assert core.percent(part, whole) == text


def test_a_senders_spelling_of_the_domain_is_the_same_domain(new_db) -> None:
    from report_factory import report, sts_policy, to_json

    from tlsrpt_tui.core.model import Origin, RawInput
    from tlsrpt_tui.service.ingest import ingest_stream
    from tlsrpt_tui.store.database import Store

    today = date(2026, 12, 1)
    reps = [report("A", "a1", "2026-11-30", [sts_policy("Mixed.Example.", 10, 0)]),
            report("B", "b1", "2026-11-29", [sts_policy("mixed.example", 5, 0)])]
    with Store(new_db("m")) as store:
        ingest_stream(store, [RawInput(r["report-id"], to_json(r), Origin("file", r["report-id"]))
                              for r in reps])
        for asked in (["mixed.example"], None):
            [a] = readiness(store, asked, today=today)
            assert (a.domain, a.sessions, a.reports) == ("mixed.example", 15, 2)


def test_a_forged_report_is_not_evidence(store, today) -> None:
    """A report whose mail failed DKIM (anyone can mail the rua address) claims thousands of
    failures at an MX: readiness leaves it out, as the tables' Totals and the alerts do."""
    from report_factory import failure, report, sts_policy, to_mail

    from tlsrpt_tui.core.model import DkimVerdict, Origin, RawInput
    from tlsrpt_tui.service.ingest import ingest_stream

    before = _by_key(readiness(store, DOMAINS, today=today))[("testing.example", "sts")]
    forged = report(fx.GOOGLE, "forged-1", fx.day(today, 2).isoformat(), [sts_policy(
        "testing.example", 10, 9000, mode="testing", mx=("mx1.testing.example",),
        details=[failure("certificate-expired", 9000, mx="mx1.testing.example")])])
    mail = RawInput("acct/INBOX/7", to_mail(forged, msgid=7),
                    Origin("imap", account="acct", folder="INBOX", uidvalidity=1, uid=7),
                    dkim=DkimVerdict("fail", "google.com", "s1", True))
    assert ingest_stream(store, [mail]).new == 1
    after = _by_key(readiness(store, DOMAINS, today=today))[("testing.example", "sts")]
    assert (after.sessions, after.failed, after.reports) == (
        before.sessions, before.failed, before.reports)
    assert "certificate-expired" not in {c.result_type for c in after.causes}
