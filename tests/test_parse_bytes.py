"""parse_bytes: sniffing, unwrapping layers, mail classification, every limit and rejection."""

from __future__ import annotations

import base64
import gzip
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlsrpt_tui.core.model import InputStatus, ParsedInput
from tlsrpt_tui.core.parse import DEFAULT_LIMITS, Limits, parse_bytes, sniff

FIXTURES = Path(__file__).parent / "fixtures"
REPORT = (FIXTURES / "reports" / "google_style.json").read_bytes()
MiB = 1024 * 1024


def mail(fixture: str) -> bytes:
    return (FIXTURES / "mail" / fixture).read_bytes()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def report_mail(
    payload: bytes,
    *,
    ctype: str = "application/tlsrpt+gzip",
    filename: str = "r.json.gz",
    top: str = 'multipart/report; report-type="tlsrpt"; boundary="B"',
    extra_headers: str = (
        "TLS-Report-Domain: fixture.example\nTLS-Report-Submitter: mailco.example\n"
    ),
    more_parts: str = "",
) -> bytes:
    """A minimal report mail around `payload` (base64), built here rather than stored."""
    body = base64.encodebytes(payload).decode()
    return (
        "From: r@mailco.example\nSubject: Report Domain: fixture.example Submitter: mailco.example"
        " Report-ID: <s@mailco.example>\n"
        f"{extra_headers}MIME-Version: 1.0\nContent-Type: {top}\n\n"
        "--B\nContent-Type: text/plain\n\nA report.\n"
        f"{more_parts}"
        f'--B\nContent-Type: {ctype}; name="{filename}"\nContent-Transfer-Encoding: base64\n\n'
        f"{body}--B--\n"
    ).encode()


def ok(result: ParsedInput, n: int = 1) -> ParsedInput:
    assert result.status is InputStatus.REPORT, result.error
    assert len(result.reports) == n
    return result


def rejected(result: ParsedInput) -> str:
    assert result.status is InputStatus.REJECTED, result
    assert result.error and "\n" not in result.error
    return result.error


# ---------------------------------------------------------------------------------------------
# Sniffing and layers


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'{"a":1}', "json"),
        (b'\xef\xbb\xbf\n  {"a":1}', "json"),
        (gzip.compress(b"x"), "gzip"),
        (make_zip({"a": b"x"}), "zip"),
        (b"Received: from x\nSubject: y\n\nbody", "mail"),
        (b'<?xml version="1.0"?><feedback/>', "xml"),
        (base64.encodebytes(gzip.compress(b"x" * 100)), "base64"),
        (b"\x00\x01\x02 binary", "unknown"),
    ],
    # fixed ids: the gzip and zip bytes carry the time, and xdist workers must collect alike
    ids=["json", "json-bom", "gzip", "zip", "mail", "xml", "base64", "unknown"],
)
def test_sniff(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize(
    "wrap",
    [
        lambda b: b,
        lambda b: b"\xef\xbb\xbf\r\n  " + b,
        gzip.compress,
        lambda b: base64.encodebytes(gzip.compress(b)),
        lambda b: make_zip({"report.json": b}),
        lambda b: make_zip({"report.json.gz": gzip.compress(b)}),
        lambda b: gzip.compress(b[:500]) + gzip.compress(b[500:]),  # multi-member gzip
        lambda b: base64.b64encode(report_mail(gzip.compress(b))),  # base64 of a whole mail
    ],
    ids=["json", "bom", "gzip", "b64-gzip", "zip", "zip-gzip", "gzip-members", "b64-mail"],
)
def test_every_container_yields_the_same_report(wrap: Callable[[bytes], bytes]) -> None:
    expected = ok(parse_bytes(REPORT, "plain.json")).reports[0]
    got = ok(parse_bytes(wrap(REPORT), "wrapped")).reports[0]
    assert (got.report_id, got.policies) == (expected.report_id, expected.policies)


def test_zip_every_member_parses_and_a_bad_member_does_not_stop_the_others() -> None:
    other = REPORT.replace(b"2026-03-01T00:00:00Z_fixture.example", b"second-id")
    data = make_zip(
        {"a.json": REPORT, "dir/b.json.gz": gzip.compress(other), "c.json": b'{"policies": 1'}
    )
    result = ok(parse_bytes(data, "reports.zip"), 2)
    assert [r.report_id for r in result.reports] == [
        "2026-03-01T00:00:00Z_fixture.example",
        "second-id",
    ]
    (err,) = result.part_errors
    assert err.startswith("member c.json: invalid JSON: ")


def test_zip_with_no_readable_member_is_rejected() -> None:
    data = make_zip({"x.json": b"{", "y.json": b"\x00 garbage"})
    assert rejected(parse_bytes(data, "z")).startswith(
        "no member of the zip holds a readable report (member x.json: invalid JSON"
    )
    assert rejected(parse_bytes(make_zip({"only.json": b"{"}), "z")).startswith(
        "member only.json: invalid JSON: "
    )


def test_zip_member_with_an_empty_name_is_read_and_labelled() -> None:
    """Found by the fuzzer: a central directory may name a member ""; zipfile's is_dir() raised."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(""), b"{")
        zf.writestr("b.json", REPORT)
    result = ok(parse_bytes(buf.getvalue(), "empty-name.zip"))
    assert [e.split(":")[0] for e in result.part_errors] == ["member (unnamed)"]


def test_zip_member_names_are_only_labels() -> None:
    data = make_zip({"../../etc/evil.json": REPORT, "/abs/path.json": b"nope"})
    result = ok(parse_bytes(data, "evil.zip"))
    assert result.part_errors == ("member /abs/path.json: not JSON, gzip or zip data",)


def test_xml_and_zipped_xml_files_are_not_reports() -> None:
    xml = b'<?xml version="1.0"?><feedback></feedback>'
    for data in (xml, gzip.compress(xml), make_zip({"dmarc.xml": xml})):
        result = parse_bytes(data, "dmarc")
        assert result.status is InputStatus.NOT_REPORT
        assert result.error == "not a TLS-RPT report"


# ---------------------------------------------------------------------------------------------
# Mail


def test_report_mail_fixtures() -> None:
    g = ok(parse_bytes(mail("tlsrpt_google_style.eml"), "g.eml")).reports[0]
    assert g.report_id == "2026-03-01T00:00:00Z_fixture.example"
    assert g.subject_report_id == "2026.03.01T00.00.00Z+fixture.example@mailco.example"
    assert (g.report_domain, g.submitter) == ("fixture.example", "mailco.example")

    m = ok(parse_bytes(mail("tlsrpt_microsoft_style.eml"), "m.eml")).reports[0]
    assert m.subject_report_id == m.report_id == "134170000000000000+fixture.example"
    assert len(m.policies[1].policy_strings) == 3

    p = ok(parse_bytes(mail("tlsrpt_json_no_policy_domain.eml"), "p.eml")).reports[0]
    assert p.policies[0].policy_domain == "fixture.example"  # header, lower-cased
    assert p.report_domain == "fixture.example"


@pytest.mark.parametrize("name", ["dmarc_aggregate.eml", "dmarc_gzip_only.eml", "ordinary.eml"])
def test_dmarc_and_ordinary_mail_are_not_reports(name: str) -> None:
    result = parse_bytes(mail(name), name)
    assert result.status is InputStatus.NOT_REPORT
    assert result.error == "not a TLS-RPT report"
    assert result.reports == ()


def test_unlabelled_mail_with_a_tlsrpt_attachment_counts() -> None:
    r = ok(parse_bytes(mail("unlabelled_forward.eml"), "fwd.eml")).reports[0]
    assert r.organization == "Mismatch Mail"
    assert r.report_domain is None and r.subject_report_id is None
    assert r.policies[0].count_mismatch


def test_truncated_gzip_attachment_is_rejected_naming_the_attachment() -> None:
    assert rejected(parse_bytes(mail("tlsrpt_truncated_gzip.eml"), "t.eml")) == (
        "attachment mailco.example!fixture.example!1772323200!1772409599!001.json.gz: "
        "gzip data truncated"
    )


def test_mislabelled_attachment_is_sniffed() -> None:
    # plain JSON labelled tlsrpt+gzip, and a zip labelled octet-stream
    ok(parse_bytes(report_mail(REPORT), "json-as-gzip"))
    data = report_mail(make_zip({"r.json": REPORT}), ctype="application/octet-stream")
    ok(parse_bytes(data, "zip-as-octet"))


def test_report_mail_with_one_bad_and_one_good_attachment() -> None:
    bad = (
        '--B\nContent-Type: application/tlsrpt+gzip; name="bad.json.gz"\n'
        "Content-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(gzip.compress(b'{"organization-name": 1}')).decode()
    )
    result = ok(parse_bytes(report_mail(gzip.compress(REPORT), more_parts=bad), "two"))
    assert result.part_errors == (
        "attachment bad.json.gz: organization-name: expected a string, got the number 1",
    )


def test_report_mail_without_attachment_is_rejected() -> None:
    data = b"Subject: x\nTLS-Report-Domain: fixture.example\n\nno report here\n"
    assert rejected(parse_bytes(data, "m")) == "mail: TLS-RPT mail without a report attachment"


def test_report_mail_with_bad_json_names_the_path() -> None:
    data = report_mail(
        REPORT.replace(b'"total-failure-session-count": 3', b'"total-failure-session-count": "x"')
    )
    assert rejected(parse_bytes(data, "m")) == (
        "attachment r.json.gz: policies[0].summary.total-failure-session-count: "
        'expected a non-negative integer, got "x"'
    )


def test_broken_mime_structure_is_rejected() -> None:
    data = b"Subject: x\nContent-Type: multipart/report; report-type=tlsrpt\n\nbody\n"
    assert rejected(parse_bytes(data, "m")) == (
        "mail: multipart/report without a boundary parameter"
    )


# ---------------------------------------------------------------------------------------------
# Limits


def test_limit_report_bytes_gzip_bomb_is_not_inflated() -> None:
    bomb = gzip.compress(b" " * (21 * MiB), compresslevel=9)
    assert len(bomb) < 100_000
    assert rejected(parse_bytes(bomb, "bomb.gz")) == "decompressed size exceeds 20 MiB limit"
    small = Limits(max_report_bytes=1 * MiB)
    assert rejected(parse_bytes(gzip.compress(b" " * (MiB + 1)), "b", small)) == (
        "decompressed size exceeds 1 MiB limit"
    )
    # exactly at the limit is still read (and then fails as JSON, not as a bomb)
    assert "invalid JSON" in rejected(
        parse_bytes(gzip.compress(b"{" + b" " * (MiB - 1)), "b", small)
    )


def test_limit_report_bytes_in_a_zip_member_checks_the_real_stream() -> None:
    data = make_zip({"big.json": b" " * (2 * MiB), "ok.json": REPORT})
    result = ok(parse_bytes(data, "z", Limits(max_report_bytes=1 * MiB)))
    assert result.part_errors == ("member big.json: decompressed size exceeds 1 MiB limit",)
    # a header that lies about the size does not help: patch the declared sizes to 10 bytes
    raw = bytearray(make_zip({"big.json": b" " * (2 * MiB)}))
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = raw.find(sig)
        raw[i + off : i + off + 4] = (10).to_bytes(4, "little")
    err = rejected(parse_bytes(bytes(raw), "liar.zip", Limits(max_report_bytes=1 * MiB)))
    assert err.startswith("member big.json: ")


def test_limit_zip_members() -> None:
    data = make_zip({f"r{i}.json": REPORT for i in range(3)})
    ok(parse_bytes(data, "z"), 3)
    assert rejected(parse_bytes(data, "z", Limits(max_zip_members=2))) == (
        "zip has 3 members, over the 2 limit"
    )


def test_limit_message_bytes() -> None:
    assert rejected(parse_bytes(REPORT, "r", Limits(max_message_bytes=100))) == (
        f"input size {len(REPORT)} bytes exceeds 100 bytes limit"
    )
    assert DEFAULT_LIMITS.max_message_bytes == 50 * MiB


def test_limit_json_depth() -> None:
    assert rejected(parse_bytes(REPORT, "r", Limits(max_json_depth=3))) == (
        "JSON nested deeper than 3 levels"
    )
    ok(parse_bytes(REPORT, "r", Limits(max_json_depth=5)))
    hostile = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert rejected(parse_bytes(hostile, "deep.json")) == "JSON nested deeper than 64 levels"
    # never closed: still measured as too deep, not handed to the decoder
    unclosed = b"{" + b'"a":[' * 100_000
    assert rejected(parse_bytes(unclosed, "open.json")) == "JSON nested deeper than 64 levels"


def test_limit_nesting_of_wrappers() -> None:
    data = REPORT
    for _ in range(4):
        data = gzip.compress(data)
    ok(parse_bytes(data, "4 layers"))
    assert rejected(parse_bytes(gzip.compress(data), "5 layers")) == (
        "wrapped more than 4 levels deep"
    )
    assert rejected(parse_bytes(data, "4 layers", Limits(max_nesting=3))) == (
        "wrapped more than 3 levels deep"
    )


def test_limit_mime_depth() -> None:
    # the whole report mail becomes one part (its headers are the part's headers)
    nested = (
        b"Subject: x\nTLS-Report-Domain: fixture.example\n"
        b"Content-Type: multipart/mixed; boundary=OUT\n\n--OUT\n"
        + report_mail(gzip.compress(REPORT))
        + b"\n--OUT--\n"
    )
    ok(parse_bytes(nested, "nested"))
    assert rejected(parse_bytes(nested, "nested", Limits(max_mime_depth=1))) == (
        "mail: multipart nested deeper than 1 levels"
    )


def test_limit_inflated_bytes_stops_nested_archive_bombs() -> None:
    inner = make_zip({f"z{i}.json": b" " * MiB for i in range(8)})  # 8 MiB inflated each
    outer = make_zip({f"inner{i}.zip": inner for i in range(20)})  # 160 MiB in all
    assert len(outer) < 1 * MiB
    assert rejected(parse_bytes(outer, "bomb.zip")) == (
        "decompressed data of this input exceeds 100 MiB in total"
    )
    small = Limits(max_inflated_bytes=1 * MiB)
    data = gzip.compress(b" " * (2 * MiB))
    assert rejected(parse_bytes(data, "g", small)) == (
        "decompressed data of this input exceeds 1 MiB in total"
    )
    ok(parse_bytes(gzip.compress(REPORT), "g", Limits(max_inflated_bytes=len(REPORT))))


def test_limit_json_bytes_per_input() -> None:
    data = make_zip({f"r{i}.json": REPORT for i in range(3)})
    result = ok(parse_bytes(data, "z", Limits(max_report_bytes=2 * len(REPORT))), 2)
    assert result.part_errors == (
        f"member r2.json: reports of this input exceed {2 * len(REPORT)} bytes in total",
    )


def test_limit_mime_parts() -> None:
    parts = "".join("--B\nContent-Type: text/plain\n\nx\n" for _ in range(5))
    data = report_mail(gzip.compress(REPORT), more_parts=parts)
    ok(parse_bytes(data, "m"))
    assert rejected(parse_bytes(data, "m", Limits(max_mime_parts=4))) == (
        "mail: more than 4 MIME parts"
    )


def test_forwarded_report_as_message_attachment() -> None:
    original = mail("tlsrpt_google_style.eml")
    fwd = (
        b"From: admin@fixture.example\nSubject: Fwd: report\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=F\n\n"
        b"--F\nContent-Type: text/plain\n\nFYI\n"
        b"--F\nContent-Type: message/rfc822\n\n" + original + b"\n--F--\n"
    )
    r = ok(parse_bytes(fwd, "fwd.eml")).reports[0]
    # the attached message's own headers describe its report
    assert r.subject_report_id == "2026.03.01T00.00.00Z+fixture.example@mailco.example"
    assert (r.report_domain, r.submitter) == ("fixture.example", "mailco.example")
    # a forwarded ordinary mail is still not a report
    plain = fwd.replace(original, mail("ordinary.eml"))
    assert parse_bytes(plain, "fwd2.eml").status is InputStatus.NOT_REPORT
    # a forwarded broken report is a broken report
    broken = fwd.replace(original, mail("tlsrpt_truncated_gzip.eml"))
    assert rejected(parse_bytes(broken, "fwd3.eml")).endswith(": gzip data truncated")


# ---------------------------------------------------------------------------------------------
# Other rejections, and never raising


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "input is empty"),
        (b" \r\n\t", "input is empty"),
        (b"\x00\x01binary junk", "not a mail message, JSON, gzip, zip or base64 data"),
        (b"\x1f\x8bnot really gzip", "gzip data corrupt (Error -3 while decompressing data: "),
        (b"PK\x03\x04garbage", "zip archive corrupt ("),
        (make_zip({}), "zip archive is empty"),
        (b'{"organization-name": "x",', "invalid JSON: "),
        (b'{"policies": []}', "organization-name: missing"),
        (b"H4sI!!!!", "not a mail message, JSON, gzip, zip or base64 data"),
    ],
)
def test_rejection_reasons(data: bytes, error: str) -> None:
    assert rejected(parse_bytes(data, "input")).startswith(error)


def test_messages_attached_too_deep() -> None:
    data = mail("tlsrpt_google_style.eml")
    for i in range(5):
        data = (
            (
                f"Subject: Fwd {i}\nContent-Type: multipart/mixed; boundary=F{i}\n\n"
                f"--F{i}\nContent-Type: message/rfc822\n\n"
            ).encode()
            + data
            + f"\n--F{i}--\n".encode()
        )
    ok(parse_bytes(data, "fwd5", Limits(max_nesting=5)))
    assert rejected(parse_bytes(data, "fwd5")).endswith(
        "attachment part 1 (message/rfc822): messages attached more than 4 deep"
    )


def _patched_zip(local_off: int, central_off: int, patch: Callable[[int], int]) -> bytes:
    """A one-member zip with one byte patched in both the local and the central header."""
    raw = bytearray(make_zip({"a.json": REPORT}))
    for sig, off in ((b"PK\x03\x04", local_off), (b"PK\x01\x02", central_off)):
        i = raw.find(sig) + off
        raw[i] = patch(raw[i])
    return bytes(raw)


def test_zip_member_rejections() -> None:
    # CRC mismatch: the member is refused, its sibling still parses
    raw = bytearray(make_zip({"a.json": REPORT, "b.json": REPORT}))
    raw[raw.find(b"PK\x01\x02") + 16] ^= 0xFF  # a.json's CRC in the central directory
    result = ok(parse_bytes(bytes(raw), "crc.zip"))
    assert result.part_errors == (
        "member a.json: zip member corrupt (Bad CRC-32 for file 'a.json')",
    )
    # encrypted (general purpose flag bit 0) and unknown compression method 99
    encrypted = _patched_zip(6, 8, lambda flags: flags | 0x1)
    assert rejected(parse_bytes(encrypted, "enc.zip")) == (
        "member a.json: encrypted zip member (needs a password)"
    )
    method99 = _patched_zip(8, 10, lambda _method: 99)
    assert rejected(parse_bytes(method99, "m99.zip")) == (
        "member a.json: unsupported zip compression (That compression method is not supported)"
    )


def test_gzip_members_limit_and_other_layer_rejections() -> None:
    many = gzip.compress(b"") * 101
    assert rejected(parse_bytes(many, "g")) == "gzip stream has more than 100 members"
    ok(parse_bytes(gzip.compress(REPORT) + gzip.compress(b"") * 50, "g"))
    # a whole mail saved compressed (.eml.gz) is read as that mail
    gz_ordinary = parse_bytes(gzip.compress(mail("ordinary.eml")), "mail.eml.gz")
    assert gz_ordinary.status is InputStatus.NOT_REPORT
    gz_report = ok(parse_bytes(gzip.compress(report_mail(gzip.compress(REPORT))), "r.eml.gz"))
    assert gz_report.reports[0].report_domain == "fixture.example"
    # …but a mail inside a report attachment is not a report
    inner = report_mail(gzip.compress(mail("ordinary.eml")))
    assert "a mail message where a report was expected" in rejected(parse_bytes(inner, "x"))
    assert rejected(parse_bytes(base64.b64encode(b"\x00\x01 not anything"), "b64")) == (
        "base64 text that decodes to no mail message, JSON, gzip or zip"
    )
    assert rejected(parse_bytes(REPORT, "big.json", Limits(max_report_bytes=100))) == (
        "report size exceeds 100 bytes limit"
    )


def test_json_that_is_not_a_report_is_not_a_report() -> None:
    result = parse_bytes(b'{"feedback": {"org": "x"}}', "other.json")
    assert result.status is InputStatus.NOT_REPORT


def test_source_is_kept() -> None:
    assert parse_bytes(REPORT, "some/where.json[3]").source == "some/where.json[3]"
    assert parse_bytes(b"", "empty").source == "empty"


_SEEDS = [
    mail("tlsrpt_google_style.eml"),
    mail("tlsrpt_microsoft_style.eml"),
    REPORT,
    gzip.compress(REPORT),
    make_zip({"r.json": REPORT}),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    cut=st.integers(min_value=0, max_value=4000),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=4),
)
def test_never_raises_on_damaged_input(seed: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(seed[: max(1, len(seed) - cut)])
    for pos, val in flips:
        data[pos % len(data)] = val
    result = parse_bytes(bytes(data), "fuzz")
    assert result.status in set(InputStatus)
    if result.status is not InputStatus.REPORT:
        assert result.error and "\n" not in result.error
        assert not result.error.startswith("internal parser error"), result.error


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_never_raises_on_random_bytes(data: bytes) -> None:
    result = parse_bytes(data, "random")
    assert result.status in (InputStatus.REJECTED, InputStatus.NOT_REPORT)
    assert not (result.error or "").startswith("internal parser error"), result.error


def test_json_fixture_roundtrip_through_dumps_is_stable() -> None:
    """The fixture itself is valid JSON with the fields the other tests rely on."""
    obj = json.loads(REPORT)
    assert obj["policies"][0]["summary"]["total-failure-session-count"] == 3


def test_json_array_of_reports_reads_each_element() -> None:
    second = json.loads(REPORT)
    second["report-id"] = "second"
    data = json.dumps([json.loads(REPORT), second, {"organization-name": 5}]).encode()
    result = ok(parse_bytes(data, "export.json"), n=2)
    assert [r.report_id for r in result.reports][1] == "second"
    [error] = result.part_errors
    assert error.startswith("[2]: organization-name: ")
    assert parse_bytes(b"[1, 2, 3]", "nums.json").status is InputStatus.NOT_REPORT
    assert rejected(parse_bytes(b'[{"organization-name": "x", "policies": [], "date-range": 1}]',
                                "bad.json")).startswith("no element of the JSON array")


def _gunzip_outcome(data: bytes, limits: Limits, inflated: int) -> tuple[object, int]:
    from tlsrpt_tui.core import parse as core_parse

    found = core_parse._Found([], [], inflated=inflated)
    try:
        result: object = core_parse._gunzip(data, limits, found)
    except core_parse._Reject as e:
        result = f"rejected: {e}"
    return result, found.inflated


_GZ = gzip.compress(b'{"a": "' + b"x" * 300 + b'"}')


@pytest.mark.parametrize(
    ("data", "limits", "inflated"),
    [
        (_GZ, DEFAULT_LIMITS, 0),
        (_GZ + _GZ, DEFAULT_LIMITS, 0),  # a second member: the loop reads it
        (_GZ + b"\0\0\0", DEFAULT_LIMITS, 0),  # padding after the member
        (_GZ + b"junk", DEFAULT_LIMITS, 0),
        (_GZ[:-9], DEFAULT_LIMITS, 0),  # truncated
        (_GZ[:12] + b"\xff" * 20 + _GZ[32:], DEFAULT_LIMITS, 0),  # corrupt
        (_GZ, Limits(max_report_bytes=310), 0),  # at the report limit
        (_GZ, Limits(max_report_bytes=300), 0),  # over it
        (_GZ, Limits(max_inflated_bytes=1000), 700),  # over the input's inflation budget
        (_GZ, Limits(max_inflated_bytes=1000), 691),  # exactly at it
        (b"\x1f\x8b", DEFAULT_LIMITS, 0),
    ],
    ids=["one", "two", "padding", "junk", "truncated", "corrupt", "at-limit", "over-limit",
         "over-budget", "at-budget", "magic-only"],
)
def test_one_call_gunzip_is_the_loop(
    data: bytes, limits: Limits, inflated: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-call inflate of a small gzip gives the windowed loop's answer, odd shapes too."""
    from tlsrpt_tui.core import parse as core_parse

    fast = _gunzip_outcome(data, limits, inflated)
    monkeypatch.setattr(core_parse, "_GZIP_ONE_CALL", -1)
    assert fast == _gunzip_outcome(data, limits, inflated)
