"""Every real report in ../shared/samples parses, with the values that sample is known for.

The samples are other projects' public test data; they are read in place (never copied into
this repository) and the tests skip when the folder is absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tlsrpt_tui.core.model import InputStatus, PolicyType, Report
from tlsrpt_tui.core.parse import parse_bytes
from tlsrpt_tui.core.report_json import load_json, report_from_json, typed_report


def one_report(samples_dir: Path, name: str) -> Report:
    result = parse_bytes((samples_dir / name).read_bytes(), name)
    assert result.status is InputStatus.REPORT, result.error
    assert result.part_errors == ()
    (report,) = result.reports
    return report


def day(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


# (file, organization, JSON report-id, start, policy types, successful, failed)
EXPECTED = [
    ("parsedmarc/google.com_smtp_tls_report.eml", "Google Inc.",
     "2024-09-03T00:00:00Z_cardinalhealth.ca", day(2024, 9, 3), ["no-policy-found"], 48, 0),
    ("parsedmarc/mail.ru.json", "Mail.ru", "b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru",
     day(2024, 2, 22), ["sts"], 0, 1),
    ("parsedmarc/smtp_tls.json", "Example Inc.", "2024-01-09T00:00:00Z_example.com",
     day(2024, 1, 9), ["sts"], 0, 3),
    ("parsedmarc/rfc8460.json", "Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
     day(2016, 4, 1), ["sts"], 5326, 303),
    ("mox/example.eml", "Google Inc.", "2022-09-15T00:00:00Z_test.xmox.nl", day(2022, 9, 15),
     ["sts"], 3, 0),
    ("mox/microsoft.eml", "Microsoft Corporation", "133198585438131172+test.xmox.nl",
     day(2023, 1, 10), ["sts"], 2, 0),
    ("tlsrpt-digest/tlsrpt_success_google_1.eml", "Google Inc.",
     "2026-05-11T00:00:00Z_example.com", day(2026, 5, 11), ["sts"], 1, 0),
    ("tlsrpt-digest/tlsrpt_success_google_2.eml", "Google Inc.",
     "2026-05-12T00:00:00Z_example.com", day(2026, 5, 12), ["sts"], 4, 0),
    ("tlsrpt-digest/tlsrpt_success_microsoft.eml", "Microsoft Corporation",
     "134232617934286362+example.com", day(2026, 5, 13), ["sts"], 2, 0),
    ("tlsrpt-digest/tlsrpt_failure.eml", "Google Inc.", "2026-02-08T00:00:00Z_example.com",
     day(2026, 2, 8), ["sts"], 4523, 2),
    ("dmarc-report-viewer/google.json", "Google Inc.", "2025-05-22T00:00:00Z_foo-bar.io",
     day(2025, 5, 22), ["sts"], 1, 0),
    ("dmarc-report-viewer/no-policy.json", "Google Inc.", "2025-03-27T00:00:00Z_foo-bar.io",
     day(2025, 3, 27), ["no-policy-found"], 1, 0),
    ("dmarc-report-viewer/microsoft.json", "Microsoft Corporation",
     "133925885310113267+random.net", day(2025, 5, 23), ["sts", "tlsa"], 4, 0),
    ("dmarc-report-viewer/no_ip_and_mx.json", "Microsoft Corporation", "1234567890+",
     day(2025, 6, 14), ["sts"], 0, 3),
    ("dmarc-report-viewer/no-contact.json", "server.com", "123_456", day(2026, 1, 11), ["sts"],
     1, 0),
    ("dmarc-report-viewer/rfc-example.json", "Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
     day(2016, 4, 1), ["sts"], 5326, 303),
    ("mail-tls-rpt/email.eml", "Google Inc.", "2020-03-02T00:00:00Z_fastmaildmarc.com",
     day(2020, 3, 2), ["no-policy-found"], 343, 0),
    ("mail-tls-rpt/report.json", "Google Inc.", "2020-03-02T00:00:00Z_fastmaildmarc.com",
     day(2020, 3, 2), ["no-policy-found"], 343, 0),
    ("mail-tls-rpt/report.json.gz.b64", "Google Inc.", "2020-03-02T00:00:00Z_fastmaildmarc.com",
     day(2020, 3, 2), ["no-policy-found"], 343, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "org", "report_id", "start", "types", "ok", "failed"),
    EXPECTED,
    ids=[e[0] for e in EXPECTED],
)
def test_sample_parses(
    samples_dir: Path,
    name: str,
    org: str,
    report_id: str,
    start: datetime,
    types: list[str],
    ok: int,
    failed: int,
) -> None:
    r = one_report(samples_dir, name)
    assert r.organization == org
    assert r.report_id == report_id
    assert r.start == start
    assert [p.policy_type.value for p in r.policies] == types
    assert (r.successful_sessions, r.failed_sessions) == (ok, failed)


def test_every_sample_file_is_covered(samples_dir: Path) -> None:
    files = sorted(
        str(p.relative_to(samples_dir))
        for p in samples_dir.rglob("*")
        if p.is_file() and p.name != "INDEX.md"
    )
    assert files == sorted(e[0] for e in EXPECTED)


def test_mail_ru_count_mismatch_is_noted(samples_dir: Path) -> None:
    r = one_report(samples_dir, "parsedmarc/mail.ru.json")
    (p,) = r.policies
    assert p.policy_strings == () and p.mx_hosts == ()
    assert p.count_mismatch and p.detail_failed_sum == 2
    assert r.notes == (
        "policies[0] (sts example.com): failure details add up to 2 but the summary says 1",
    )
    assert r.end == day(2024, 2, 23)  # the next midnight
    assert {d.failure_reason_code for d in p.failure_details} == {
        "bad https response code: 404",
        "bad https response code: 500",
    }


def test_microsoft_tlsa_json_array_is_flattened(samples_dir: Path) -> None:
    r = one_report(samples_dir, "dmarc-report-viewer/microsoft.json")
    sts, tlsa = r.policies
    assert tlsa.policy_type is PolicyType.TLSA
    assert len(tlsa.policy_strings) == 2
    assert all(s.startswith("3 1 1 ") and len(s) == 6 + 64 for s in tlsa.policy_strings)
    assert sts.mx_hosts == ()  # Microsoft sends no mx-host
    assert r.generated_at == datetime(2025, 5, 24, 19, 28, 51, 11326, tzinfo=UTC)


def test_google_subject_report_id_differs_from_json_id(samples_dir: Path) -> None:
    r = one_report(samples_dir, "parsedmarc/google.com_smtp_tls_report.eml")
    assert r.subject_report_id == "2024.09.03T00.00.00Z+cardinalhealth.ca@google.com"
    assert r.report_id == "2024-09-03T00:00:00Z_cardinalhealth.ca"
    assert (r.report_domain, r.submitter) == ("cardinalhealth.ca", "google.com")
    assert r.policies[0].policy_strings == () and r.policies[0].mx_hosts == ()


def test_mox_microsoft_dates_without_z_and_bare_folded_subject_id(samples_dir: Path) -> None:
    r = one_report(samples_dir, "mox/microsoft.eml")
    assert r.start == day(2023, 1, 10) and r.end == day(2023, 1, 10, 23, 59, 59)
    assert r.subject_report_id == "133198585438131172+test.xmox.nl"
    assert r.generated_at == datetime(2023, 2, 3, 0, 42, 23, 813117, tzinfo=UTC)
    assert r.submitter == "microsoft.com"


def test_tlsrpt_failure_json_dates_win(samples_dir: Path) -> None:
    r = one_report(samples_dir, "tlsrpt-digest/tlsrpt_failure.eml")
    # Subject and filename say 2026-05-12; the JSON says 2026-02-08 and the JSON wins.
    assert r.subject_report_id == "2026.05.12T00.00.00Z+example.com@google.com"
    assert (r.start, r.end) == (day(2026, 2, 8), day(2026, 2, 9))
    (p,) = r.policies
    assert p.failed_sessions == 2 and not p.count_mismatch


def test_google_mx_host_lists_and_html_only_microsoft(samples_dir: Path) -> None:
    g = one_report(samples_dir, "tlsrpt-digest/tlsrpt_success_google_1.eml")
    assert g.policies[0].mx_hosts == (
        "in1-smtp.messagingengine.com",
        "in2-smtp.messagingengine.com",
    )
    m = one_report(samples_dir, "tlsrpt-digest/tlsrpt_success_microsoft.eml")
    assert m.subject_report_id == m.report_id == "134232617934286362+example.com"


def test_other_quirky_samples(samples_dir: Path) -> None:
    assert one_report(samples_dir, "dmarc-report-viewer/no-contact.json").contact is None
    nim = one_report(samples_dir, "dmarc-report-viewer/no_ip_and_mx.json")
    (d,) = nim.policies[0].failure_details
    assert (d.result_type, d.failed_session_count, d.sending_mta_ip) == (
        "sts-policy-fetch-error",
        3,
        None,
    )
    assert nim.generated_at is None  # "1234567890+" is not a FILETIME
    assert one_report(samples_dir, "parsedmarc/rfc8460.json").policies[0].mx_hosts == (
        "*.mail.company-y.example",
    )


def test_fast_path_agrees_with_checked_path_on_every_json_sample(samples_dir: Path) -> None:
    for path in sorted(samples_dir.rglob("*.json")):
        data = path.read_bytes()
        fast = typed_report(data)
        assert fast is not None, path  # every real report takes the fast path
        assert fast == report_from_json(load_json(data)), path
