"""The bytes-level MIME reader: headers, parameters, boundaries, transfer encodings."""

from __future__ import annotations

import base64
import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlsrpt_tui.core import mime
from tlsrpt_tui.core.mime import (
    MimeError,
    decode_rfc2047,
    looks_like_message,
    parse_content_type,
    read_message,
    subject_report_id,
)

MAIL = Path(__file__).parent / "fixtures" / "mail"


@pytest.mark.parametrize("crlf", [False, True])
def test_report_mail_headers_and_parts(crlf: bool) -> None:
    data = (MAIL / "tlsrpt_google_style.eml").read_bytes()
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    msg = read_message(data)
    assert msg.tls_report_domain == "fixture.example"
    assert msg.tls_report_submitter == "mailco.example"
    assert msg.has_dkim_signature
    assert msg.message_id == "<fixture-google-1@mailco.example>"
    assert msg.date == "Mon, 02 Mar 2026 01:12:00 -0800"
    assert msg.from_ == "noreply-tls-reporting@mailco.example"
    # the folded Subject is unfolded (line break removed, the white space kept)
    assert msg.subject == (
        "Report Domain: fixture.example Submitter: mailco.example "
        "Report-ID: <2026.03.01T00.00.00Z+fixture.example@mailco.example>"
    )
    assert msg.content_type == "multipart/report"
    assert msg.report_type == "tlsrpt"
    text, report = msg.parts
    assert text.content_type == "text/plain" and text.params["charset"] == "UTF-8"
    assert report.content_type == "application/tlsrpt+gzip"
    assert report.filename == "mailco.example!fixture.example!1772323200!1772409599!001.json.gz"
    assert report.transfer_encoding == "base64"
    assert report.payload()[:2] == b"\x1f\x8b"


def test_payload_matches_the_stdlib_email_package() -> None:
    """Same decoded bytes as the stdlib, on every fixture mail's leaf parts."""
    for path in sorted(MAIL.glob("*.eml")):
        data = path.read_bytes()
        ours = [p.payload() for p in read_message(data).parts]
        ref = email.message_from_bytes(data, policy=email.policy.default)
        theirs = [p.get_payload(decode=True) for p in ref.walk() if not p.is_multipart()]
        assert ours == theirs, path.name


def test_rfc2231_continued_filename_and_quoted_printable_html() -> None:
    msg = read_message((MAIL / "tlsrpt_microsoft_style.eml").read_bytes())
    html, report = msg.parts
    assert report.filename == (
        "bigcloud.example!fixture.example!1772409600!1772495999!134170000000000000.json.gz"
    )
    assert html.content_type == "text/html"
    assert b'content="text/html; charset=us-ascii"' in html.payload()
    assert subject_report_id(msg.subject) == "134170000000000000+fixture.example"


def test_nested_multipart_leaves_in_order() -> None:
    msg = read_message((MAIL / "unlabelled_forward.eml").read_bytes())
    assert [p.content_type for p in msg.parts] == [
        "text/plain",
        "text/html",
        "application/octet-stream",
    ]
    assert [p.index for p in msg.parts] == [0, 1, 2]
    assert msg.parts[0].payload() == b"See the attached report."
    assert msg.subject == "Fwd: TLS report \u2013 please check"
    assert msg.parts[2].label == "report.json.gz"
    assert msg.parts[0].label == "part 1 (text/plain)"


def test_boundary_that_is_a_prefix_of_another_line_is_not_a_delimiter() -> None:
    data = (
        b"Content-Type: multipart/mixed; boundary=ab\n\n"
        b"--ab\nContent-Type: text/plain\n\none\n--abc not a boundary\n"
        b"--ab\nContent-Type: text/plain\n\ntwo\n--ab--\nepilogue\n"
    )
    msg = read_message(data)
    assert [p.payload() for p in msg.parts] == [b"one\n--abc not a boundary", b"two"]


def test_missing_close_delimiter_keeps_the_rest() -> None:
    data = b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\nbody\n"
    assert read_message(data).parts[0].body == b"body\n"


def test_single_part_message_and_mbox_from_line() -> None:
    data = b"From someone Sat Jan  1 00:00:00 2000\nSubject: hi\n\nhello\n"
    msg = read_message(data)
    assert msg.subject == "hi"
    assert msg.content_type == "text/plain"
    assert msg.parts[0].payload() == b"hello\n"
    assert not msg.has_dkim_signature


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Content-Type: multipart/mixed\n\nbody", "multipart/mixed without a boundary parameter"),
        (
            b"Content-Type: multipart/mixed; boundary=q\n\nno delimiter here",
            "multipart boundary 'q' not found",
        ),
        (b"\n\nbody only", "no header block"),
    ],
)
def test_unreadable_structure_raises_mime_error(data: bytes, message: str) -> None:
    with pytest.raises(MimeError) as exc:
        read_message(data)
    assert str(exc.value) == message


def test_multipart_depth_limit() -> None:
    data = b"Content-Type: text/plain\n\nleaf"
    for i in range(30):
        data = (
            f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n".encode()
            + data
            + f"\n--b{i}--\n".encode()
        )
    with pytest.raises(MimeError, match="nested deeper than 20 levels"):
        read_message(data)
    assert read_message(data, max_depth=40).parts[0].payload() == b"leaf"


def test_base64_with_bad_padding_is_repaired() -> None:
    good = base64.b64encode(b"hello world!!").rstrip(b"=")
    data = b"Content-Transfer-Encoding: base64\n\n" + good + b"\n"
    assert read_message(data).parts[0].payload() == b"hello world!!"
    # a dangling character (truncated mail) is dropped: what can be decoded is returned
    data = b"Content-Transfer-Encoding: base64\n\n" + base64.b64encode(b"abc") + b"Q\n"
    assert read_message(data).parts[0].payload() == b"abc"


def test_content_type_parameters() -> None:
    assert parse_content_type('Multipart/Report; Report-Type="tlsrpt"; boundary="a;b"') == (
        "multipart/report",
        {"report-type": "tlsrpt", "boundary": "a;b"},
    )
    assert parse_content_type("application/gzip; name*=UTF-8''r%C3%A9port.json.gz")[1] == {
        "name": "r\u00e9port.json.gz"
    }
    assert parse_content_type('text/plain; name="a \\"q\\" b"')[1] == {"name": 'a "q" b'}
    assert parse_content_type("text/plain") == ("text/plain", {})


def test_rfc2047() -> None:
    assert decode_rfc2047("=?UTF-8?Q?caf=C3=A9_au_lait?=") == "caf\u00e9 au lait"
    assert decode_rfc2047("=?utf-8?b?SGVs?= =?utf-8?b?bG8=?=") == "Hello"
    assert decode_rfc2047("plain =?x-unknown?Q?abc?=") == "plain =?x-unknown?Q?abc?="
    assert decode_rfc2047("no words") == "no words"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Report Domain: a Submitter: b Report-ID: <x@y>", "x@y"),
        ("Report Domain: a Submitter: b Report-ID:  133+a.example", "133+a.example"),
        ("report-id: < spaced >", "spaced"),
        ("Lunch on Friday", None),
        (None, None),
    ],
)
def test_subject_report_id(subject: str | None, expected: str | None) -> None:
    assert subject_report_id(subject) == expected


def test_looks_like_message() -> None:
    assert looks_like_message(b"Received: from x\n")
    assert looks_like_message(b"\r\nFrom a@b Sat Jan  1 00:00:00 2000\n")
    assert not looks_like_message(b'{"a": 1}')
    assert not looks_like_message(b"H4sIAAAAAAAA")


# ---------------------------------------------------------------------------------------------
# The fast paths against the general readers they stand in for: same result on any input
# (the fast path may decline, never differ).

_HEADER_LINE = st.sampled_from([
    b"Subject: Report-ID: <a>", b"subject :x", b"SUBJECT\t: y", b"Subject-Extra: no",
    b"Content-Type: text/plain", b"content-type:application/tlsrpt+gzip; name=a",
    b"Content-Transfer-Encoding: base64", b"Content-Disposition: attachment; filename=r.gz",
    b"DKIM-Signature: v=1; d=a.example", b"TLS-Report-Domain: b.example", b"From: x@y",
    b"Received: from mx", b" folded", b"\tfolded tab", b"no colon", b"", b" ", b"X:\r", b":",
    b"Date : Mon", b"Message-ID:<id>", b"From x@y", b"Subject\r: cr",
])


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(_HEADER_LINE | st.binary(max_size=12), max_size=10))
def test_header_line_loop_reads_what_the_regex_reads(lines: list[bytes]) -> None:
    head = b"\n".join(lines)
    for wanted in (mime._WANTED_TOP, mime._WANTED_PART):
        assert mime._headers(head, wanted) == mime._headers_by_regex(head, wanted)


def test_a_header_block_over_the_line_loop_limit_is_read_alike() -> None:
    filler = b"Received: from mx.example by mx.example\n\tfolded\n" * 2000
    head = filler + b"Subject: big\n folded\nContent-Type: text/plain"
    assert len(head) > mime._LINE_LOOP_MAX
    expected = {b"subject": b"big folded", b"content-type": b"text/plain"}
    assert mime._headers(head, mime._WANTED_TOP) == expected
    assert mime._headers(head[-200:], mime._WANTED_TOP) == expected


_PARAM_TEXT = st.text(alphabet=' \t;="\\*\'abcN-\x1c\u00e9\u2028', max_size=30)


@settings(max_examples=600, deadline=None)
@given(rest=_PARAM_TEXT | st.lists(st.sampled_from(
    [" a=b", ' name="x y"', " c = d ", ' q="a;b"', " e", ' f="g"h', " n*=utf-8''x", ' "k"=v',
     " =v", " a b=c", " u=v w", ' w=""', " x=", ' y="\\"', " z=\u00e9"]), max_size=4
).map(";".join))
def test_simple_params_decline_or_agree_with_the_regex(rest: str) -> None:
    simple = mime._simple_params(rest)
    assert simple is None or simple == mime._regex_params(rest)


def test_simple_params_take_the_common_shape() -> None:
    rest = ' boundary="0000"; report-type="tlsrpt"'
    assert mime._simple_params(rest) == {"boundary": "0000", "report-type": "tlsrpt"}
    assert mime._simple_params(' charset="UTF-8"; format=flowed; delsp=yes') is not None


@pytest.mark.parametrize(
    "subject",
    ["x REPORT-ID: <a> Report-ID: <b>", "Report-ID:   ", "Report-ID:    \t", "re: report-id:x",
     "Report-ID: <a", "\u00e9 Report-ID: <x>", "Report-\u0131D: <x>", "a Report-ID:<>  b"],
)
def test_subject_report_id_fast_path_is_the_regex(subject: str) -> None:
    m = mime._SUBJECT_ID.search(subject)
    expected = None if m is None else (m.group(1) if m.group(1) is not None else m.group(2))
    expected = expected or None
    assert subject_report_id(subject) == expected


@settings(max_examples=600, deadline=None)
@given(subject=st.lists(st.sampled_from(
    ["Report-ID:", "report-id:", "REPORT-ID: ", "<", ">", " ", "\t", "\x1c", "a", "<x>", "id@x",
     "\u00e9", "\u0131"]), max_size=8).map("".join))
def test_subject_report_id_agrees_with_the_regex(subject: str) -> None:
    m = mime._SUBJECT_ID.search(subject)
    expected = None if m is None else (m.group(1) if m.group(1) is not None else m.group(2))
    assert subject_report_id(subject) == (expected or None)


def test_part_filename_from_content_type_name_and_params_on_demand() -> None:
    """A leaf part's parameters are read only when asked for, except that a ``name`` one
    (any case, RFC 2231 too) still names the part when no Content-Disposition does."""
    data = (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
        b"Content-Type: text/plain; Charset=UTF-8; format=flowed\n\nhello\n--b\n"
        b'Content-Type: application/gzip; NAME="r.gz"\n\nx\n--b\n'
        b"Content-Type: application/gzip; name*0=a; name*1=b.gz\n\nx\n--b\n"
        b"Content-Type: application/gzip\nContent-Disposition: attachment; filename=d.gz\n\nx\n"
        b"--b--\n"
    )
    text, upper, continued, disposed = read_message(data).parts
    assert text.filename is None and text.params == {"charset": "UTF-8", "format": "flowed"}
    assert (upper.filename, continued.filename, disposed.filename) == ("r.gz", "ab.gz", "d.gz")
    assert upper.params == {"name": "r.gz"} and disposed.params == {}
