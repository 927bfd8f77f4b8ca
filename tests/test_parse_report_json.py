"""TLS-RPT JSON → Report: every quirk of spec/report-format.md, and every rejection path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tlsrpt_tui.core import report_json
from tlsrpt_tui.core.model import PolicyType
from tlsrpt_tui.core.report_json import (
    Envelope,
    ReportError,
    check_json_depth,
    decode_filetime_report_id,
    load_json,
    looks_like_tlsrpt,
    report_from_bytes,
    report_from_json,
    typed_report,
)

FIXTURES = Path(__file__).parent / "fixtures" / "reports"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_google_style_report_reads_every_field() -> None:
    r = report_from_json(fixture("google_style.json"))
    assert r.organization == "Example Mail Co."
    assert r.contact == "tls-reports@mailco.example"
    assert r.report_id == "2026-03-01T00:00:00Z_fixture.example"
    assert r.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert r.end == datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    assert r.generated_at is None  # not a FILETIME id
    assert r.notes == ()
    (p,) = r.policies
    assert p.policy_type is PolicyType.STS
    assert p.policy_domain == "fixture.example"
    assert p.mx_hosts == ("mx1.fixture.example", "mx2.fixture.example")
    assert p.policy_strings[1] == "mode: enforce"
    assert (p.successful_sessions, p.failed_sessions) == (120, 3)
    first, second = p.failure_details
    assert first.result_type == "certificate-expired"
    assert first.receiving_mx_helo == "mx2.fixture.example"
    assert first.additional_information == "https://mailco.example/tlsrpt/why"
    assert first.failure_reason_code == "X509_V_ERR_CERT_HAS_EXPIRED"
    assert second.receiving_ip is None  # "" means not given
    assert second.additional_information is None
    assert not p.count_mismatch


def test_microsoft_style_dates_without_z_filetime_and_nested_tlsa_array() -> None:
    r = report_from_json(fixture("microsoft_style.json"))
    assert r.start == datetime(2026, 3, 2, tzinfo=UTC)  # no "Z": UTC
    assert r.start.tzinfo is UTC
    # 134170000000000000 ticks of 100 ns since 1601-01-01
    assert r.generated_at == datetime(2026, 3, 3, 8, 26, 40, tzinfo=UTC)
    sts, tlsa = r.policies
    assert sts.policy_type is PolicyType.STS and sts.policy_type_raw == "STS"
    assert sts.mx_hosts == ()
    assert tlsa.policy_type is PolicyType.TLSA and tlsa.policy_type_raw == "Tlsa"
    assert len(tlsa.policy_strings) == 3
    assert all(s.startswith(("3 1 1 ", "2 1 1 ")) for s in tlsa.policy_strings)


def test_quirks_semicolons_mx_host_string_pattern_alias_null_contact_unknown_types() -> None:
    r = report_from_json(fixture("quirks.json"))
    assert r.contact is None
    # +02:00 offsets are converted to UTC
    assert r.start == datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    tlsa, sts, other = r.policies
    assert tlsa.policy_strings == ("3 1 1 DDDD3333DDDD3333", "3 1 1 EEEE4444EEEE4444")
    assert tlsa.mx_hosts == ("mx.quirks.example",)
    assert sts.mx_hosts == ("mx.quirks.example",)  # from mx-host-pattern
    assert sts.failure_details == ()
    assert tlsa.failure_details[0].result_type == "dane-required"
    assert tlsa.failure_details[0].additional_information == "https://self-hosted.example/info"
    assert tlsa.failure_details[1].result_type == "tlsa-invalid"
    assert other.policy_type is PolicyType.OTHER
    assert other.policy_type_raw == "dnssec-magic"
    assert any("dnssec-magic" in n for n in r.notes)


def test_count_mismatch_is_kept_and_noted() -> None:
    r = report_from_json(fixture("count_mismatch.json"))
    (p,) = r.policies
    assert p.failed_sessions == 1 and p.detail_failed_sum == 2 and p.count_mismatch
    assert r.notes == (
        "policies[0] (sts fixture.example): failure details add up to 2 but the summary says 1",
    )


def test_missing_policy_domain_falls_back_to_tls_report_domain() -> None:
    obj = fixture("no_policy_domain.json")
    with pytest.raises(ReportError, match=r"^policies\[0\]\.policy\.policy-domain: missing"):
        report_from_json(obj)
    env = Envelope(subject_report_id="s-id", report_domain="fixture.example", submitter="mta")
    r = report_from_json(obj, env)
    assert r.policies[0].policy_domain == "fixture.example"
    assert r.policies[0].policy_type is PolicyType.NO_POLICY_FOUND
    assert (r.subject_report_id, r.report_domain, r.submitter) == ("s-id", "fixture.example", "mta")
    assert r.report_id == "2026-03-07.fixture.example"  # the JSON id, not the Subject's
    assert any("TLS-Report-Domain" in n for n in r.notes)


def _mutated(path: list[str | int], value: object, *, delete: bool = False) -> dict:
    obj = copy.deepcopy(fixture("google_style.json"))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["policies", 0, "summary", "total-failure-session-count"],
            "x",
            "policies[0].summary.total-failure-session-count: expected a non-negative integer, "
            'got "x"',
        ),
        (
            ["policies", 0, "summary", "total-successful-session-count"],
            -1,
            "policies[0].summary.total-successful-session-count: expected a non-negative "
            "integer, got -1",
        ),
        (
            ["policies", 0, "summary", "total-successful-session-count"],
            1.5,
            "policies[0].summary.total-successful-session-count: expected a non-negative "
            "integer, got 1.5",
        ),
        (
            ["policies", 0, "failure-details", 1, "failed-session-count"],
            True,
            "policies[0].failure-details[1].failed-session-count: expected a non-negative "
            "integer, got true",
        ),
        (
            ["policies", 0, "failure-details", 0, "sending-mta-ip"],
            {"ip": 1},
            "policies[0].failure-details[0].sending-mta-ip: expected a string, got an object",
        ),
        (
            ["policies", 0, "failure-details", 0],
            "oops",
            'policies[0].failure-details[0]: expected an object, got the string "oops"',
        ),
        (["policies", 0, "policy"], [], "policies[0].policy: expected an object, got an array"),
        (["policies"], {}, "policies: expected an array, got an object"),
        (["date-range"], "today", 'date-range: expected an object, got the string "today"'),
        (
            ["date-range", "start-datetime"],
            "yesterday",
            'date-range.start-datetime: expected an RFC 3339 date-time, got "yesterday"',
        ),
        (["organization-name"], 7, "organization-name: expected a string, got the number 7"),
        (
            ["policies", 0, "policy", "mx-host"],
            5,
            "policies[0].policy.mx-host: expected a string or an array, got the number 5",
        ),
        (
            ["policies", 0, "policy", "policy-string", 2],
            None,
            "policies[0].policy.policy-string[2]: expected a string, got null",
        ),
        (
            ["policies", 0, "failure-details"],
            "none",
            'policies[0].failure-details: expected an array, got the string "none"',
        ),
    ],
)
def test_wrong_types_are_rejected_naming_the_json_path(
    path: list[str | int], value: object, message: str
) -> None:
    with pytest.raises(ReportError) as exc:
        report_from_json(_mutated(path, value))
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (["report-id"], "report-id: missing"),
        (["organization-name"], "organization-name: missing"),
        (["date-range", "end-datetime"], "date-range.end-datetime: missing"),
        (["policies", 0, "summary"], "policies[0].summary: missing"),
        (
            ["policies", 0, "failure-details", 0, "result-type"],
            "policies[0].failure-details[0].result-type: missing",
        ),
        (["policies", 0, "policy", "policy-type"], "policies[0].policy.policy-type: missing"),
    ],
)
def test_missing_required_fields_are_rejected(path: list[str | int], message: str) -> None:
    with pytest.raises(ReportError) as exc:
        report_from_json(_mutated(path, None, delete=True))
    assert str(exc.value) == message


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(ReportError, match=r"^report: expected an object, got an array$"):
        report_from_json([1, 2])


def test_filetime_report_ids() -> None:
    assert decode_filetime_report_id("133198585438131172+test.example") == datetime(
        2023, 2, 3, 0, 42, 23, 813117, tzinfo=UTC
    )
    assert decode_filetime_report_id("134232617934286362+") is not None  # empty domain
    assert decode_filetime_report_id("1234567890+") is None  # too short to be a FILETIME
    assert decode_filetime_report_id("999999999999999999+x") is None  # year 4770: implausible
    assert decode_filetime_report_id("2026-03-01T00:00:00Z_x") is None


def test_load_json_accepts_bom_and_whitespace_and_rejects_garbage() -> None:
    assert load_json(b'\xef\xbb\xbf \n {"a": 1}\n') == {"a": 1}
    with pytest.raises(ReportError, match=r"^invalid JSON: "):
        load_json(b'{"a": }')
    with pytest.raises(ReportError, match=r"^invalid JSON: "):
        load_json(b'{"a": "\xff"}')


def test_depth_limit_is_enforced_before_decoding() -> None:
    hostile = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ReportError, match=r"^JSON nested deeper than 64 levels$"):
        load_json(hostile)
    # exactly at the limit is fine; one more is not
    ok = b'{"a":' * 63 + b"[1]" + b"}" * 63
    assert check_json_depth(ok, 64) is None
    with pytest.raises(ReportError):
        check_json_depth(b"[" + ok + b"]", 64)
    # brackets inside strings (also escaped quotes) do not count as nesting
    text = json.dumps({"s": "[[[[" * 50 + '\\" {{{{' * 50, "t": ["]]]]" * 50]}).encode()
    assert check_json_depth(text, 3) is None
    # a wide but shallow document is fine
    wide = json.dumps([[{"x": [i]} for i in range(500)]]).encode()
    assert check_json_depth(wide, 4) is None
    with pytest.raises(ReportError):
        check_json_depth(wide, 3)


def test_looks_like_tlsrpt() -> None:
    assert looks_like_tlsrpt(fixture("google_style.json"))
    assert not looks_like_tlsrpt({"feedback": {}})
    assert not looks_like_tlsrpt(["policies", "date-range", "organization-name"])


# ---------------------------------------------------------------------------------------------
# The typed fast path and the checked path agree


def _both(data: bytes, env: Envelope | None = None) -> tuple[object, object]:
    def run(fn: Callable[[], object]) -> object:
        try:
            return fn()
        except ReportError as e:
            return ("error", str(e))

    fast = run(lambda: report_from_bytes(data, env))
    slow = run(lambda: report_from_json(load_json(data), env))
    return fast, slow


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_fast_and_checked_paths_agree_on_fixtures(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    env = Envelope(subject_report_id="sid", report_domain="env.example", submitter="sub")
    for e in (None, env):
        fast, slow = _both(data, e)
        assert fast == slow


def test_typed_path_is_taken_for_plain_reports_and_refuses_odd_ones() -> None:
    plain = (FIXTURES / "google_style.json").read_bytes()
    assert typed_report(plain) == report_from_json(json.loads(plain))
    odd = plain.replace(b'"total-failure-session-count": 3', b'"total-failure-session-count": "3"')
    assert typed_report(odd) is None
    assert (
        _both(odd)[0]
        == _both(odd)[1]
        == (
            "error",
            "policies[0].summary.total-failure-session-count: expected a non-negative integer, "
            'got "3"',
        )
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"receiving-ip": ""', b'"receiving-ip": null'),
        (b'"receiving-ip": ""', b'"receiving-ip": 7'),
        (b'"failed-session-count": 2', b'"failed-session-count": -2'),
        (b'"failed-session-count": 2', b'"failed-session-count": 99999999999999999999'),
        (b'"mx-host": [', b'"mx-host-pattern": ['),
        (b'"policy-type": "sts"', b'"policy-type": " STS "'),
        (b'"policy-domain": "fixture.example",', b""),
        (b'"additional-information"', b'"additional-info-uri"'),
        (b'"contact-info": "tls-reports@mailco.example"', b'"contact-info": ""'),
        (b'"2026-03-01T00:00:00Z"', b'"2026-03-01T00:00:00"'),
        (b'"2026-03-01T00:00:00Z"', b'"2026-03-01t00:00:00z"'),
        (b'"2026-03-01T23:59:59Z"', b'"2026-02-01T23:59:59Z"'),
        (b'"mode: enforce"', b'"mode: enforce; other"'),
        (b'"mode: enforce"', b'"[\\"a\\", \\"b\\"]"'),
        (b'"organization-name"', b'"extra": [[[1]]], "organization-name"'),
    ],
)
def test_fast_and_checked_paths_agree_on_variants(old: bytes, new: bytes) -> None:
    data = (FIXTURES / "google_style.json").read_bytes()
    assert old in data
    variant = data.replace(old, new, 1)
    for env in (None, Envelope(report_domain="env.example")):
        fast, slow = _both(variant, env)
        assert fast == slow


def test_direct_constructor_builds_equal_objects_and_respects_post_init() -> None:
    from tlsrpt_tui.core.model import FailureDetail

    args = ("certificate-expired", 2, "192.0.2.1", None, None, None, None, "x")
    made = report_json._new_detail(*args)
    assert made == FailureDetail(*args) and type(made) is FailureDetail
    assert hash(made) == hash(FailureDetail(*args))
    with pytest.raises(AttributeError):
        made.failed_session_count = 3  # still frozen

    import dataclasses

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    assert report_json._direct_constructor(Checked) is Checked
