"""Property-based fuzzing of every parser: one strategy and one check per parser.

Shared by tests/test_fuzz_parsers.py (a small budget in CI) and bench/fuzz/run.py (100,000+
inputs per parser). The property is the same everywhere: no unhandled exception, and what comes
back is the documented result type with one-line messages free of control characters.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from hostile import builders as b

CONTROL = b.CONTROL_CHARS


def one_line(text: str | None, what: str) -> None:
    assert text, f"{what}: empty"
    bad = {c for c in text if c in CONTROL}
    assert not bad, f"{what}: control characters {bad!r} in {text[:120]!r}"


# ---------------------------------------------------------------------------------------------
# Seeds and structured mutation


@functools.cache
def seeds() -> tuple[bytes, ...]:
    """Valid inputs of every container shape, the starting points of mutation."""
    rep = b.dumps(b.report())
    tlsa = b.report()
    tlsa["policies"][0]["policy"]["policy-type"] = "tlsa"
    tlsa["policies"][0]["policy"]["policy-string"] = [
        '["3 1 1 AB", "2 1 1 CD"]', "3 1 1 EF; 3 0 1 00"
    ]
    return (
        rep,
        b.dumps(tlsa),
        b.gz(rep),
        b.make_zip([("r.json", rep), ("s.json.gz", b.gz(rep))]),
        base64.encodebytes(b.gz(rep)),
        b.report_mail(b.gz(rep)),
        b.report_mail(b.gz(rep)).replace(b"\n", b"\r\n"),
        b.mail([("application/tlsrpt+json", "quoted-printable", rep.replace(b"=", b"=3D"))]),
        b"From x\n" + b.report_mail(rep),
    )


@st.composite
def mutated(draw: st.DrawFn, pool: Callable[[], tuple[bytes, ...]] = seeds) -> bytes:
    """A seed with 1-4 structural mutations: byte flips, cuts, inserted junk or magic bytes,
    duplicated or deleted regions, splices of two seeds."""
    data = bytearray(draw(st.sampled_from(pool())))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "delete", "splice", "magic"]))
        n = len(data)
        i = draw(st.integers(0, max(n - 1, 0)))
        if op == "flip" and n:
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif op == "dup" and n:
            j = draw(st.integers(i, n))
            data[i:i] = data[i:j] * draw(st.integers(1, 8))
        elif op == "delete":
            j = draw(st.integers(i, n))
            del data[i:j]
        elif op == "splice":
            other = draw(st.sampled_from(pool()))
            j = draw(st.integers(0, len(other)))
            data[i:] = other[j:]
        elif op == "magic":
            magic = draw(st.sampled_from([b"\x1f\x8b", b"PK\x03\x04", b"PK\x05\x06", b"{", b"[",
                                          b"--B\n", b"--B--\n", b"\n\n", b"=?utf-8?b?", b"\\u",
                                          b"\x00", b"\xff", b"\r\n", b"From "]))
            data[i:i] = magic
    return bytes(data)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["sts", "tlsa", "no-policy-found", "2026-05-01T00:00:00Z", "", "x" * 100,
                       b.HOSTILE_TEXT, "2026-05-01", "9999-12-31T23:59:59-23:59"])
)
_keys = st.sampled_from([
    "organization-name", "date-range", "start-datetime", "end-datetime", "contact-info",
    "report-id", "policies", "policy", "policy-type", "policy-string", "policy-domain",
    "mx-host", "mx-host-pattern", "summary", "total-successful-session-count",
    "total-failure-session-count", "failure-details", "result-type", "sending-mta-ip",
    "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip", "failed-session-count",
    "additional-information", "additional-info-uri", "failure-reason-code",
]) | st.text(max_size=10)

json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=40,
)


@st.composite
def report_like(draw: st.DrawFn) -> Any:
    """A valid report with 1-3 random subtrees replaced by arbitrary JSON values (or removed)."""
    rep = b.report()
    paths = b.leaf_paths(rep)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        try:
            if draw(st.booleans()):
                rep = b.set_path(rep, path, draw(json_values))
            else:
                rep = json.loads(json.dumps(rep))
                target = rep
                for key in path[:-1]:
                    target = target[key]
                del target[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the path
    return rep


# ---------------------------------------------------------------------------------------------
# The checks (one per parser)


def check_parse_bytes(data: bytes) -> None:
    from tlsrpt_tui.core.model import InputStatus, ParsedInput
    from tlsrpt_tui.core.parse import parse_bytes

    res = parse_bytes(data, "fuzz")
    assert isinstance(res, ParsedInput) and res.source == "fuzz"
    assert res.status in InputStatus
    if res.status is InputStatus.REPORT:
        assert res.reports
    else:
        one_line(res.error, "error")
        assert not res.error.startswith("internal parser error"), res.error
    for e in res.part_errors:
        one_line(e, "part error")


def check_report_json(obj: Any) -> None:
    from tlsrpt_tui.core.model import Report
    from tlsrpt_tui.core.report_json import ReportError, report_from_json

    try:
        rep = report_from_json(obj)
    except ReportError as e:
        assert "\n" not in str(e), str(e)
        return
    assert isinstance(rep, Report)
    for p in rep.policies:
        assert p.successful_sessions >= 0 and p.failed_sessions >= 0


def check_load_json(data: bytes) -> None:
    from tlsrpt_tui.core.report_json import ReportError, load_json

    try:
        load_json(data, 64)
    except ReportError as e:
        assert "\n" not in str(e)


def check_mime(data: bytes) -> None:
    from tlsrpt_tui.core.mime import MailMessage, MimeError, read_message

    try:
        msg = read_message(data)
    except MimeError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(msg, MailMessage)
    for part in msg.parts:
        try:
            assert isinstance(part.payload(), bytes)
        except MimeError as e:
            assert "\n" not in str(e)


def check_mbox(data: bytes) -> None:
    from tlsrpt_tui.core.model import ParsedInput, RawInput
    from tlsrpt_tui.core.parse import Limits
    from tlsrpt_tui.service.sources import iter_mbox

    items = list(iter_mbox(io.BytesIO(data), "fuzz.mbox", Limits(max_message_bytes=2048)))
    for i, item in enumerate(items):
        assert isinstance(item, RawInput | ParsedInput)
        assert item.source == f"fuzz.mbox[{i}]"
        if isinstance(item, RawInput):
            assert len(item.data) <= 2048


def _findings_clean(findings: list) -> None:
    for f in findings:
        one_line(f.message, f"finding {f.code}")


def check_tlsrpt_txt(txts: list[str]) -> None:
    from tlsrpt_tui.core.checks.tlsrpt_record import tlsrpt_findings

    findings, rec = tlsrpt_findings("example.org", txts)
    assert findings
    _findings_clean(findings)
    if rec is not None:
        assert rec.rua and not rec.errors


def check_sts_txt(txts: list[str]) -> None:
    from tlsrpt_tui.core.checks.sts_record import sts_record_findings

    findings, rec = sts_record_findings("example.org", txts)
    assert findings
    _findings_clean(findings)
    if rec is not None:
        assert rec.id.isalnum()


def check_policy(text: str) -> None:
    from tlsrpt_tui.core.checks.sts_policy import check_policy as check

    findings, policy = check(text, "https://mta-sts.example.org/.well-known/mta-sts.txt")
    assert findings
    _findings_clean(findings)
    if policy is not None:
        assert policy.valid and policy.mode in ("enforce", "testing", "none")


@functools.cache
def _cert() -> tuple[bytes, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.example.org")])
    now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx.example.org")]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER), cert


def der_chains() -> st.SearchStrategy[tuple[bytes, ...]]:
    good = lambda: (_cert()[0],)  # noqa: E731
    return st.lists(
        st.binary(max_size=600) | mutated(good) | st.just(_cert()[0]), min_size=0, max_size=3
    ).map(tuple)


def check_tls_verify(chain: tuple[bytes, ...]) -> None:
    from tlsrpt_tui.core.checks.tls_verify import ProbeResult, verify_presented

    now = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
    probe = ProbeResult("mx.example.org", "192.0.2.1", chain=chain, protocol="TLSv1.3")
    res = verify_presented(probe, [_cert()[1]], now)
    assert res.findings
    _findings_clean(res.findings)


@st.composite
def tlsa_sets(draw: st.DrawFn) -> tuple[str, list, tuple[bytes, ...]]:
    from tlsrpt_tui.core.checks.dane import TlsaRecord

    records = draw(st.lists(st.builds(
        TlsaRecord, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
        st.binary(max_size=80),
    ), max_size=6))
    state = draw(st.sampled_from(["secure", "insecure", "none", "bogus", "failed"]))
    return state, records, draw(der_chains())


def check_tlsa(args: tuple[str, list, tuple[bytes, ...]]) -> None:
    from tlsrpt_tui.core.checks.dane import tlsa_findings
    from tlsrpt_tui.core.checks.tls_verify import ProbeResult, verify_presented

    state, records, chain = args
    for f in tlsa_findings("mx.example.org", state, records, b.HOSTILE_TEXT):
        assert "\n" not in f.message
    res = verify_presented(ProbeResult("mx.example.org", "192.0.2.1", chain=chain),
                           [_cert()[1]], dt.datetime(2026, 5, 2, tzinfo=dt.UTC), records)
    _findings_clean(res.findings)


def check_table_text(fields: list[str]) -> None:
    from tlsrpt_tui.core import tables
    from tlsrpt_tui.ui.text import cell, clean

    row = tables.OverviewRow("2026-05-01", *fields[:4], 1, 2)
    for line in tables.render([row], tables.OverviewRow, "table"):
        bad = {c for c in line[:-1] if c in CONTROL}
        assert not bad, f"table line holds {bad!r}"
    for f in fields:
        assert not {c for c in clean(f) if c in CONTROL}
        assert not {c for c in cell(f).plain if c in CONTROL}


# ---------------------------------------------------------------------------------------------
# The registry


_hostile_text = st.lists(
    st.characters(codec="utf-8").map(str)
    | st.sampled_from([*sorted(CONTROL), "[", "]", "/", "\x1b[", "\u202e", "[bold]", "[/]"]),
    max_size=40,
).map("".join)
_txt = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, c: f"v=TLSRPTv1; rua={a}{c}",
              st.sampled_from(["mailto:", "https://", "mailto:\"", "http://", ""]), _hostile_text),
    st.builds(lambda a: f"v=STSv1; id={a}", _hostile_text),
    st.builds(lambda a, c: f"v=TLSRPTv1;{a};{c}", _hostile_text, _hostile_text),
)
_policy_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(
        st.sampled_from(["version: STSv1", "mode: enforce", "mode: testing", "mode: none",
                         "max_age: 86400", "mx: mx.example.org", "mx: *.example.org", ""]),
        st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(["version", "mode", "max_age", "mx",
                                                             "Mode", "x"]), _hostile_text),
    ), max_size=12).map("\n".join),
    st.lists(st.sampled_from(["version: STSv1", "mode: enforce", "max_age: 86400",
                              "mx: mx.example.org"]), max_size=6).map("\r\n".join),
)


@dataclass(frozen=True)
class Property:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]


def properties() -> list[Property]:
    return [
        Property("parse_bytes/arbitrary", st.binary(max_size=4096), check_parse_bytes),
        Property("parse_bytes/mutated", mutated(), check_parse_bytes),
        Property("report_json/values", json_values, check_report_json),
        Property("report_json/report-like", report_like(), check_report_json),
        Property("load_json/bytes", st.binary(max_size=512) | mutated(), check_load_json),
        Property("mime/read_message", mutated() | st.binary(max_size=2048), check_mime),
        Property("sources/iter_mbox", st.lists(mutated() | st.binary(max_size=300), max_size=4)
                 .map(lambda ms: b"".join(b"From x\n" + m + b"\n" for m in ms)), check_mbox),
        Property("tlsrpt_record", st.lists(_txt, max_size=3), check_tlsrpt_txt),
        Property("sts_record", st.lists(_txt, max_size=3), check_sts_txt),
        Property("sts_policy", _policy_text, check_policy),
        Property("tls_verify/der", der_chains(), check_tls_verify),
        Property("dane/tlsa", tlsa_sets(), check_tlsa),
        Property(
            "tables+ui.text", st.lists(_hostile_text, min_size=4, max_size=4), check_table_text
        ),
    ]

