"""MTA-STS policy parsing, mx pattern matching and coverage (RFC 8461 §3.2, §4.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt_tui.core.checks.sts_policy import (
    check_policy,
    coverage_findings,
    id_unchanged_finding,
    mx_matches,
    parse_policy,
    policy_coverage_findings,
)
from tlsrpt_tui.core.findings import Severity

URL = "https://mta-sts.example.test/.well-known/mta-sts.txt"
GOOD = (
    "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.mail.example.test\n"
    "max_age: 604800\n"
)


def codes(findings):
    return [f.code for f in findings]


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_valid_policy_lf_and_crlf(eol):
    findings, policy = check_policy(GOOD.replace("\n", eol), URL)
    assert codes(findings) == ["sts.policy.ok"]
    assert policy is not None and policy.valid
    assert (policy.version, policy.mode, policy.max_age) == ("STSv1", "enforce", 604800)
    assert policy.mx == ("mx1.example.test", "*.mail.example.test")
    assert findings[0].subject == URL


def test_no_final_newline_and_whitespace_after_colon():
    policy = parse_policy("version:STSv1\nmode:\t testing\nmx:  a.example.test  \nmax_age: 86400")
    assert policy.valid
    assert (policy.mode, policy.mx, policy.max_age) == ("testing", ("a.example.test",), 86400)


def test_first_duplicate_wins_and_extensions_ignored():
    text = (
        "version: STSv1\nmode: enforce\nmode: none\nmax_age: 86400\nmax_age: 1\n"
        "mx: a.test\nfoo_bar: x\n"
    )
    policy = parse_policy(text)
    assert policy.valid
    assert (policy.mode, policy.max_age) == ("enforce", 86400)
    assert policy.extensions == (("foo_bar", "x"),)


def test_keys_are_case_sensitive():
    findings, policy = check_policy(GOOD.replace("mode:", "Mode:"), URL)
    assert policy is None
    assert codes(findings) == ["sts.policy.invalid"]
    assert "line 2" in findings[0].message and "case-sensitive" in findings[0].message
    assert findings[0].result_type == "sts-policy-invalid"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (GOOD.replace("STSv1", "STSv2"), "line 1: version 'STSv2'"),
        (GOOD.replace("enforce", "enforced"), "line 2: mode 'enforced'"),
        (GOOD.replace("604800", "31557601"), "line 5: max_age 31557601 is over"),
        (GOOD.replace("604800", "-1"), "line 5: max_age '-1' is not a number"),
        (GOOD.replace("604800", "1w"), "line 5: max_age '1w' is not a number"),
        ("version: STSv1\nmode: enforce\nmax_age: 86400\n", "no 'mx' line"),
        ("version: STSv1\nmx: a.test\nmax_age: 86400\n", "no 'mode' line"),
        ("mode: enforce\nmx: a.test\nmax_age: 86400\n", "no 'version: STSv1' line"),
        (GOOD + "this line has no colon\n", "line 6: 'this line has no colon' is not 'key: value'"),
        (GOOD + "bad key!: 1\n", "line 6: 'bad key!' is not a valid key"),
    ],
)
def test_invalid_policies_name_the_line(text, fragment):
    findings, policy = check_policy(text, URL)
    assert policy is None
    assert codes(findings) == ["sts.policy.invalid"]
    assert fragment in findings[0].message
    assert findings[0].severity is Severity.ERROR


def test_max_age_limits():
    assert parse_policy(GOOD.replace("604800", "31557600")).valid
    assert parse_policy(GOOD.replace("604800", "0")).max_age == 0


def test_none_mode_needs_no_mx_and_warns():
    findings, policy = check_policy("version: STSv1\nmode: none\nmax_age: 86400\n", URL)
    assert codes(findings) == ["sts.policy.ok", "sts.policy.none"]
    assert findings[1].severity is Severity.WARNING
    assert policy is not None and coverage_findings(policy, ["mx.example.test"]) == []


def test_max_age_low():
    findings, _ = check_policy(GOOD.replace("604800", "3600"), URL)
    assert codes(findings) == ["sts.policy.ok", "sts.policy.max-age-low"]
    findings, _ = check_policy(GOOD.replace("604800", "86400"), URL)
    assert codes(findings) == ["sts.policy.ok"]


@pytest.mark.parametrize(
    "pattern",
    [
        "192.0.2.25",
        "2001:db8::25",
        "[192.0.2.25]",
        "*.*.example.test",
        "mx*.example.test",
        "*",
        "*.test",
        "bad_host.example.test",
        "",
        "mx..example.test",
        "a.123",
    ],
)
def test_bad_mx_patterns(pattern):
    findings, policy = check_policy(GOOD + f"mx: {pattern}\n", URL)
    assert policy is None
    assert codes(findings) == ["sts.policy.mx-pattern"]
    assert "line 6" in findings[0].message
    assert findings[0].result_type == "sts-policy-invalid"


@pytest.mark.parametrize(
    "pattern", ["mx.example.test", "MX.Example.Test", "*.example.test", "mx.example.test.", "a1-b"]
)
def test_good_mx_patterns(pattern):
    _, policy = check_policy(GOOD + f"mx: {pattern}\n", URL)
    assert policy is not None


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mx.example.test", "mx.example.test", True),
        ("mx.example.test", "MX.EXAMPLE.TEST.", True),
        ("mx.example.test.", "mx.example.test", True),
        ("mx.example.test", "mx2.example.test", False),
        ("*.example.test", "mx.example.test", True),
        ("*.Example.Test", "mx.example.test.", True),
        ("*.example.test", "a.b.example.test", False),  # exactly one extra label
        ("*.example.test", "example.test", False),
        ("*.example.test", ".example.test", False),
        ("*.example.test", "mx.example.test.evil", False),
    ],
)
def test_mx_matches(pattern, host, expected):
    assert mx_matches(pattern, host) is expected


label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(st.lists(label, min_size=2, max_size=5), label)
def test_wildcard_matches_exactly_one_label(labels, extra):
    base = ".".join(labels)
    assert mx_matches(f"*.{base}", f"{extra}.{base}")
    assert not mx_matches(f"*.{base}", base)
    assert not mx_matches(f"*.{base}", f"{extra}.{extra}.{base}")
    assert mx_matches(base, base.upper() + ".")


def test_coverage_enforce_and_stale_pattern():
    _, policy = check_policy(GOOD + "mx: old.example.test\n", URL)
    assert policy is not None
    findings = coverage_findings(
        policy, ["mx1.example.test", "a.mail.example.test", "x.y.mail.example.test"]
    )
    assert codes(findings) == ["sts.policy.mx-uncovered", "sts.policy.stale-pattern"]
    uncovered, stale = findings
    assert uncovered.subject == "x.y.mail.example.test"
    assert uncovered.severity is Severity.ERROR
    assert uncovered.result_type == "validation-failure"
    assert "old.example.test" in stale.message and stale.severity is Severity.INFO


def test_coverage_testing_is_warning_and_accepts_mx_objects():
    class Mx:  # like core.checks.mx.MxHost: only .host is read
        def __init__(self, host):
            self.host = host

    _, policy = check_policy(GOOD.replace("enforce", "testing"), URL)
    assert policy is not None
    findings = coverage_findings(policy, [Mx("mx1.example.test"), Mx("other.example.test")])
    assert codes(findings) == ["sts.policy.mx-uncovered", "sts.policy.stale-pattern"]
    assert findings[0].severity is Severity.WARNING
    assert findings[0].result_type == "validation-failure"


def test_testing_mode_severity_depends_on_tlsrpt():
    _, policy = check_policy(GOOD.replace("enforce", "testing"), URL)
    assert policy is not None
    hosts = ["mx1.example.test", "a.mail.example.test"]
    with_rpt = policy_coverage_findings(policy, hosts, True)
    without = policy_coverage_findings(policy, hosts, False)
    assert codes(with_rpt) == codes(without) == ["sts.policy.testing"]
    assert with_rpt[0].severity is Severity.INFO
    assert without[0].severity is Severity.WARNING


def test_id_unchanged():
    new = GOOD.replace("604800", "1209600")
    f = id_unchanged_finding("20240101", GOOD, "20240101", new, subject="_mta-sts.example.test")
    assert f is not None and f.code == "sts.policy.id-unchanged"
    assert f.severity is Severity.WARNING and f.subject == "_mta-sts.example.test"
    assert id_unchanged_finding("1", GOOD, "2", new) is None  # id changed: fine
    assert id_unchanged_finding("1", GOOD, "1", GOOD.replace("\n", "\r\n")) is None
    assert id_unchanged_finding(None, None, "1", GOOD) is None  # first check


def test_untrusted_text_is_escaped_in_messages():
    findings, _ = check_policy("version: STSv1\x1b[31m\nmode: enforce\n", URL)
    assert "\x1b" not in findings[0].message
    assert "\\x1b" in findings[0].message


@given(st.text(max_size=400))
def test_parser_never_raises_and_invalid_means_no_policy(text):
    findings, policy = check_policy(text, URL)
    assert findings
    if policy is None:
        assert {f.code for f in findings} & {"sts.policy.invalid", "sts.policy.mx-pattern"}
    else:
        assert findings[0].code == "sts.policy.ok" and policy.mode in ("enforce", "testing", "none")
    assert all(f.message.isprintable() for f in findings)
