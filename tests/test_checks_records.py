"""Unit tests of the pure record checks: TLS-RPT, MTA-STS record, MX set, TLSA RRset, catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tlsrpt_tui.core.checks.catalogue import CATALOGUE, RESULT_TYPES, finding, worst
from tlsrpt_tui.core.checks.dane import DaneChain, TlsaRecord, dane_applies, tlsa_findings
from tlsrpt_tui.core.checks.mx import MxHost, mx_findings
from tlsrpt_tui.core.checks.sts_record import sts_record_findings
from tlsrpt_tui.core.checks.tlsrpt_record import tlsrpt_findings, valid_uri
from tlsrpt_tui.core.findings import Severity

SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "spec" / "checks.md"


def codes(findings) -> set[str]:
    return {f.code for f in findings}


# -- TLS-RPT -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("txts", "expected"),
    [
        (["v=TLSRPTv1; rua=mailto:tlsrpt@example.com"], {"tlsrpt.ok"}),
        (["v=TLSRPTv1;rua=mailto:a@example.com;"], {"tlsrpt.ok"}),
        (["v=TLSRPTv1; rua=https://reports.example.com/tlsrpt"], {"tlsrpt.ok"}),
        ([], {"tlsrpt.missing"}),
        (["v=spf1 -all"], {"tlsrpt.missing", "tlsrpt.unrelated-txt"}),
        (
            ["v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"],
            {"tlsrpt.multiple"},
        ),
        (["v=TLSRPTv2; rua=mailto:a@example.com"], {"tlsrpt.syntax"}),
        (["rua=mailto:a@example.com; v=TLSRPTv1"], {"tlsrpt.syntax"}),
        (["V=tlsrptv1; rua=mailto:a@example.com"], {"tlsrpt.syntax"}),
        (["v=TLSRPTv1; rua"], {"tlsrpt.syntax", "tlsrpt.no-rua"}),
        (["v=TLSRPTv1"], {"tlsrpt.no-rua"}),
        (["v=TLSRPTv1; ext=1"], {"tlsrpt.no-rua"}),
        (["v=TLSRPTv1; rua=mailto:a@example.com!10m"], {"tlsrpt.bad-uri"}),
        (["v=TLSRPTv1; rua=http://example.com/r"], {"tlsrpt.bad-uri"}),
        (["v=TLSRPTv1; rua=mailto:nobody"], {"tlsrpt.bad-uri"}),
        (
            ["v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/x"],
            {"tlsrpt.ok", "tlsrpt.many-rua"},
        ),
        (["v=TLSRPTv1; rua=mailto:a@example.com; x-ext=abc"], {"tlsrpt.ok"}),
        (["v=TLSRPTv1; rua=mailto:a@example.com; bad name=1"], {"tlsrpt.syntax"}),
        (["v=TLSRPTv1; rua=mailto:a@example.com", "hello"], {"tlsrpt.ok", "tlsrpt.unrelated-txt"}),
    ],
)
def test_tlsrpt_codes(txts: list[str], expected: set[str]) -> None:
    out, record = tlsrpt_findings("example.com", txts)
    assert codes(out) == expected
    assert (record is not None) == ("tlsrpt.ok" in expected)
    assert all(f.subject == "_smtp._tls.example.com" for f in out)


def test_tlsrpt_message_names_the_bad_uri() -> None:
    out, _ = tlsrpt_findings("example.com", ["v=TLSRPTv1; rua=mailto:a@example.com!10m"])
    bad = next(f for f in out if f.code == "tlsrpt.bad-uri")
    assert "mailto:a@example.com!10m" in bad.message and "DMARC" in bad.message
    assert bad.severity is Severity.ERROR


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("mailto:x@example.com", True),
        ("MAILTO:x@example.com", True),
        ("https://example.com:8443/p?q=1", True),
        ("https:example.com", False),
        ("https://", False),
        ("ftp://example.com", False),
        ("mailto:@example.com", False),
        ("mailto:x@exa mple.com", False),
    ],
)
def test_valid_uri(uri: str, ok: bool) -> None:
    assert (valid_uri(uri) is None) == ok


# -- MTA-STS record ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("txts", "expected", "rec_id"),
    [
        (["v=STSv1; id=20261128T01"], {"sts.record.ok"}, "20261128T01"),
        (["v=STSv1; id=abc;"], {"sts.record.ok"}, "abc"),
        (["v=STSv1; id=abc; id=def"], {"sts.record.ok"}, "abc"),  # first duplicate wins
        (["v=STSv1; id=abc; ext=1"], {"sts.record.ok"}, "abc"),
        ([], {"sts.record.missing"}, None),
        (["something else"], {"sts.record.missing"}, None),
        (["v=STSv1; id=a", "v=STSv1; id=b"], {"sts.record.multiple"}, None),
        (["v=STSv2; id=a"], {"sts.record.syntax"}, None),
        (["v=STSv1; id"], {"sts.record.syntax", "sts.record.bad-id"}, None),
        (["v=STSv1"], {"sts.record.bad-id"}, None),
        (["v=STSv1; id=2026-11-28"], {"sts.record.bad-id"}, None),
        (["v=STSv1; id=" + "a" * 33], {"sts.record.bad-id"}, None),
        (["v=STSv1; id=ok; =x"], {"sts.record.syntax"}, None),
    ],
)
def test_sts_record_codes(txts: list[str], expected: set[str], rec_id: str | None) -> None:
    out, record = sts_record_findings("example.com", txts)
    assert codes(out) == expected
    assert (record.id if record else None) == rec_id


# -- MX ----------------------------------------------------------------------------------
def test_mx_codes() -> None:
    good = [MxHost("mx1.example.com", 10, ["192.0.2.1"]), MxHost("mx2.example.com", 20, ["::1"])]
    mx = [(10, "mx1.example.com"), (20, "mx2.example.com")]
    assert codes(mx_findings("example.com", mx, good)) == {"mx.ok"}
    assert codes(mx_findings("example.com", [], [])) == {"mx.none"}
    assert codes(mx_findings("example.com", [(0, "")], [])) == {"mx.null"}
    assert codes(mx_findings("example.com", [(0, ".")], [])) == {"mx.null"}
    hosts = [
        MxHost("a.example.com", 10, []),
        MxHost("b.example.com", 10, ["192.0.2.2"], cname="real.example.com"),
        MxHost("c.example.com", 10, [], failed="servfail"),
    ]
    out = mx_findings("example.com", [(10, h.host) for h in hosts], hosts)
    assert {(f.code, f.subject) for f in out} == {
        ("mx.no-address", "a.example.com"),
        ("mx.cname", "b.example.com"),
        ("mx.lookup-failed", "c.example.com"),
    }
    assert "servfail" in next(f.message for f in out if f.code == "mx.lookup-failed")


# -- TLSA --------------------------------------------------------------------------------
EE = TlsaRecord(3, 1, 1, b"\x01" * 32)
EE2 = TlsaRecord(3, 1, 1, b"\x02" * 32)
TA = TlsaRecord(2, 0, 1, b"\x03" * 32)
PKIX = TlsaRecord(1, 1, 1, b"\x04" * 32)


@pytest.mark.parametrize(
    ("state", "records", "expected"),
    [
        ("secure", [EE, EE2], set()),
        ("secure", [EE], {"dane.no-rollover"}),
        ("secure", [TA], set()),
        ("secure", [PKIX], {"dane.pkix-usage", "dane.unusable"}),
        ("secure", [PKIX, EE, EE2], {"dane.pkix-usage"}),
        ("secure", [TlsaRecord(3, 1, 1, b"\x01" * 31)], {"dane.unusable"}),  # short digest
        ("secure", [TlsaRecord(3, 2, 1, b"\x01" * 32)], {"dane.unusable"}),  # bad selector
        ("secure", [TlsaRecord(3, 1, 7, b"\x01" * 32)], {"dane.unusable"}),  # bad type
        ("secure", [TlsaRecord(3, 1, 2, b"\x01" * 64)], {"dane.no-rollover"}),
        ("insecure", [EE], {"dane.insecure"}),
        ("none", [], {"dane.none"}),
        ("bogus", [], {"dane.bogus"}),
        ("failed", [], {"dane.lookup-failed"}),
    ],
)
def test_tlsa_codes(state: str, records: list[TlsaRecord], expected: set[str]) -> None:
    out = tlsa_findings("mx.example.com", state, records, "why")
    assert codes(out) == expected
    assert all(f.subject == "_25._tcp.mx.example.com" for f in out)


def test_dane_bogus_result_type() -> None:
    (f,) = tlsa_findings("mx.example.com", "bogus", [], "servfail")
    assert f.result_type == "dnssec-invalid" and f.severity is Severity.ERROR


# -- catalogue ---------------------------------------------------------------------------
def test_catalogue_matches_spec() -> None:
    """Every code of the spec tables is in the catalogue with the spec's severity."""
    if not SPEC.is_file():
        pytest.skip("../shared/spec/checks.md is not present")
    rows = re.findall(r"^\| ([a-z]+\.[a-z.-]+) \| ([a-z]+)", SPEC.read_text(), re.M)
    assert len(rows) > 50
    for code, severity in rows:
        assert code in CATALOGUE, code
        assert CATALOGUE[code].severity == severity, code
    spec_types = re.findall(r"^\| ([a-z]+(?:-[a-z]+)+) \| ", SPEC.read_text(), re.M)
    assert set(spec_types) - {"result-type"} == set(RESULT_TYPES)
    used = {i.result_type for i in CATALOGUE.values() if i.result_type}
    assert used <= set(RESULT_TYPES)


def test_finding_builder_and_worst() -> None:
    f = finding("sts.policy.mx-uncovered", "mx.example.com", "x", severity=Severity.WARNING)
    assert f.severity is Severity.WARNING and f.result_type == "validation-failure"
    assert f.message.endswith(": x")
    assert worst([]) is Severity.OK
    assert worst([f, finding("mx.ok", "d")]) is Severity.WARNING


# -- DANE chain (RFC 7672 §2.2) ----------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "chain", "expected"),
    [
        ("secure", DaneChain(mx=False, domain="example.com"), {"dane.mx-insecure"}),
        ("secure", DaneChain(address=False), {"dane.address-insecure"}),
        ("secure", DaneChain(mx=False, address=False), {"dane.mx-insecure"}),  # first link
        ("secure", DaneChain(address=None), {"dane.no-rollover"}),  # addresses failed
        ("bogus", DaneChain(), {"dane.bogus"}),
        ("bogus", DaneChain(mx=False), {"dane.mx-insecure"}),
        ("bogus", DaneChain(address=False), {"dane.address-insecure"}),
        ("bogus", DaneChain(address=None), set()),  # mx.lookup-failed covers the host
        ("insecure", DaneChain(mx=False), {"dane.insecure"}),
        ("none", DaneChain(mx=False), {"dane.none"}),
        ("failed", DaneChain(address=False), {"dane.lookup-failed"}),
    ],
)
def test_dane_chain_rule(state: str, chain: DaneChain, expected: set[str]) -> None:
    records = [EE] if state in ("secure", "insecure") else []
    out = tlsa_findings("mx.example.com", state, records, "servfail", chain)
    assert codes(out) == expected
    assert dane_applies(state, chain) == (
        state == "secure" and chain.mx and chain.address is not False
    )
    assert all(
        f.severity != "error" for f in out if f.code not in ("dane.bogus", "dane.lookup-failed")
    )


def test_dane_chain_findings_name_the_insecure_link() -> None:
    (mx,) = tlsa_findings(
        "mx.example.net", "secure", [EE], "", DaneChain(mx=False, domain="example.com")
    )
    assert "MX records of example.com" in mx.message and mx.severity is Severity.INFO
    (addr,) = tlsa_findings(
        "mx.example.net", "secure", [EE], "", DaneChain(address=False, cname="h.example.org")
    )
    assert "A/AAAA records of mx.example.net (via CNAME h.example.org)" in addr.message


def test_port25_evidence_expires() -> None:
    """An accepted connection proves port 25 open for PORT25_EVIDENCE_SECONDS, then not."""
    import time

    from tlsrpt_tui.core.findings import DomainStatus
    from tlsrpt_tui.service.checks import PORT25_EVIDENCE_SECONDS, Port25Memory, judge_port25

    def refused() -> DomainStatus:
        probe = {"10.0.0.1": {"attempted": True, "connected": False, "port": 25}}
        unreachable = finding("tls.unreachable", "mx.example.com", "connection refused")
        records = {"probe": {"mx.example.com": probe}}
        return DomainStatus("example.com", "t", Severity.ERROR, records, [unreachable])

    memory = Port25Memory(last_open=time.monotonic() - 10)
    status = refused()
    assert not judge_port25([status], memory)
    assert codes(status.findings) == {"tls.unreachable"}
    memory.last_open = time.monotonic() - PORT25_EVIDENCE_SECONDS - 1
    assert judge_port25([status], memory)
    assert codes(status.findings) == {"tls.probe-blocked"} and status.status is Severity.WARNING
