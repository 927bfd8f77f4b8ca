"""The DKIM check's own message split and canonicalization give dkimpy's bytes, and its verdicts
dkimpy's, on generated mail (no DNS: the key records are in hand, as in the key cache).

core/dkim.py re-does three of dkimpy's steps with less work (the split, the relaxed header
algorithm, emptying ``b=``); these properties hold it to dkimpy's results byte for byte, with
odd whitespace, bare LF, folded fields, and signatures in both canonicalizations and both key
types (RSA, Ed25519).
"""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from report_factory import report, sts_policy, to_mail

from tlsrpt_tui.core import dkim as core_dkim

PROPS = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"tls-report-domain",
          b"tls-report-submitter", b"mime-version", b"content-type"]

_space = st.sampled_from([b" ", b"\t", b"  ", b" \t ", b"\r\n ", b"\r\n\t", b"\n ", b"\r", b"\x0b",
                          b"\x0c", b""])
_word = st.binary(min_size=0, max_size=6).map(
    lambda b: bytes(c for c in b if 0x21 <= c <= 0x7e and c != ord(":")))


@st.composite
def header_values(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.tuples(_space, _word), max_size=6))
    return b"".join(s + w for s, w in parts) + draw(_space) + b"\r\n"


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    lines: list[bytes] = []
    if draw(st.booleans()):
        lines.append(b"From sender@example.org Mon Jan  1 00:00:00 2026")
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from([b"From", b"To", b"Subject", b"X-A", b"dkim-signature"]))
        value = draw(header_values()).rstrip(b"\r\n").replace(b"\r\n", eol).replace(b"\n", eol)
        lines.append(name + b":" + value)
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from([b" ", b"\t"])) + draw(_word))
    body = draw(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")),
                         max_size=4))
    blank = draw(st.booleans())
    text = eol.join(lines) + ((eol + eol + eol.join(body)) if blank else eol)
    if draw(st.booleans()):  # a mixed line end somewhere
        text = text.replace(eol, b"\n" if eol == b"\r\n" else b"\r\n", 1)
    return text


@PROPS
@given(messages())
def test_split_is_dkimpy_rfc822_parse(data: bytes) -> None:
    try:
        headers, body = dkim.rfc822_parse(data)
    except Exception:
        with pytest.raises(ValueError):
            core_dkim._split(data)
        return
    assert core_dkim._split(data) == ([(n, v) for n, v in headers], body)


_b64 = st.text("ABCDEFabcdef0123456789+/=", max_size=12).map(str.encode)


@PROPS
@given(st.lists(st.one_of(_b64, _space, st.sampled_from([b";", b"b=", b" b=", b";b =", b"bh=",
                                                         b"\r\n", b"\n", b"a=rsa"])),
                max_size=12))
def test_emptying_b_is_dkimpy_re_btag(parts: list[bytes]) -> None:
    value = b"".join(parts)
    assert core_dkim.without_b(value) == dkim.RE_BTAG.sub(b"\\1", value)


@PROPS
@given(st.lists(st.tuples(st.sampled_from([b"From", b"SUBJECT", b"x-y"]), header_values()),
                max_size=4))
def test_relaxed_headers_are_dkimpy_relaxed(headers: list[tuple[bytes, bytes]]) -> None:
    expected = dkim.canonicalization.Relaxed.canonicalize_headers(headers)
    assert core_dkim._relaxed_headers(headers) == [tuple(h) for h in expected]


@PROPS
@given(st.lists(st.one_of(_word, _space, st.sampled_from([b";", b"=", b"a=", b" b = x", b"1=",
                                                         b"_x=", b"v=1;", b"v=2"])),
                max_size=10))
def test_tag_values_are_dkimpy_parse_tag_value(parts: list[bytes]) -> None:
    value = b"".join(parts)
    try:
        expected = dkim.util.parse_tag_value(value)
    except dkim.util.InvalidTagValueList as exc:
        with pytest.raises(type(exc)):
            core_dkim.tag_values(value)
        return
    assert core_dkim.tag_values(value) == expected


# --------------------------------------------------------------------------------------------
# Verdicts against dkimpy's dkim.verify


def _rsa() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; s=tlsrpt; p=" + base64.b64encode(der)


def _ed25519() -> tuple[bytes, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(seed), b"v=DKIM1; k=ed25519; p=" + base64.b64encode(pub)


KEYS = {"rsa": _rsa(), "ed25519": _ed25519()}
ALGORITHM = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}


def _mail(i: int, noise: bytes) -> bytes:
    rep = report("Sender Org", f"core-{i}", "2026-05-11", [sts_policy("example.org", 10, 2)])
    data = to_mail(rep, submitter="sender.example", msgid=i)
    # odd but legal whitespace in a signed field and in the body
    data = data.replace(b"Subject: ", b"Subject:" + noise, 1)
    return data.replace(b"\r\n\r\n", b"\r\n\r\n" + noise.strip(b"\r\n") + b"  \r\n", 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["rsa", "ed25519"]),
    canon=st.sampled_from([(b"relaxed", b"relaxed"), (b"relaxed", b"simple"),
                           (b"simple", b"simple"), (b"simple", b"relaxed")]),
    noise=st.sampled_from([b" ", b"\t ", b"  \t", b" \r\n "]),
    flip=st.one_of(st.none(), st.integers(0, 10_000)),
    lf=st.booleans(),
)
def test_verdict_is_dkimpy_verdict(kind: str, canon: tuple[bytes, bytes], noise: bytes,
                                   flip: int | None, lf: bool) -> None:
    private, record = KEYS[kind]
    data = _mail(1, noise)
    signed = dkim.sign(data, b"sel", b"sender.example", private, include_headers=SIGNED,
                       canonicalize=canon, signature_algorithm=ALGORITHM[kind],
                       tlsrpt=True) + data
    if flip is not None:  # one byte changed anywhere (header, signature, body)
        at = flip % len(signed)
        assume(signed[at:at + 1] not in (b"\r", b"\n"))
        signed = signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1:]
    if lf:
        signed = signed.replace(b"\r\n", b"\n")
    keys = {"sel._domainkey.sender.example": core_dkim.KeyRecord(text=record)}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"sel._domainkey.sender.example." else None

    try:
        theirs = dkim.verify(signed, dnsfunc=dnsfunc, tlsrpt=True)
    except Exception:
        theirs = False
    ours = core_dkim.verify(signed, keys)
    assert (ours.result == "pass") == theirs, (ours, signed[:400])
    if flip is None:
        assert ours.result == "pass"
        assert (ours.domain, ours.selector, ours.aligned) == ("sender.example", "sel", True)


@given(st.binary(max_size=40) | st.lists(st.sampled_from(
    [b"a", b"\xe9", b"\x00", b"\x1b", b" ", b"\t", b"\r\n", b"\x0b", b"\x0c", b"\x85", b".", b"-"]),
    max_size=20).map(b"".join))
def test_tag_text_is_what_the_regex_spelling_gave(value: bytes) -> None:
    """``_ascii`` (d= and s= as text) drops ASCII white space with ``translate``: the same
    text as the regex substitution it replaced, printable characters only."""
    import re

    text = re.sub(rb"\s+", b"", value).decode("ascii", "replace")
    assert core_dkim._ascii(value) == "".join(c for c in text if c.isprintable())


_TAG_TEXT = st.sampled_from([b"d", b"s", b"v", b"a", b"D", b" d", b"d ", b"1d", b"", b"s\t",
                             b"d d", b"\x0bs", b"sd", b";d"])
_VALUE_TEXT = st.sampled_from([b"example.com", b"Sel", b" ex ample.COM. ", b"", b"a=b", b"\r\n x",
                               b"\x1bbad", b"tlsrpt"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(_TAG_TEXT, _VALUE_TEXT), max_size=5), max_size=6))
def test_key_names_are_what_the_signatures_name(signatures: list[list[tuple[bytes, bytes]]]
                                               ) -> None:
    """key_names reads d= and s= without parsing every tag: the same signers and names as
    the signatures the verifier reads (tags valid or not, duplicated, folded, odd)."""
    head = b"".join(b"DKIM-Signature: " + b"; ".join(t + b"=" + v for t, v in sig) + b"\r\n"
                    for sig in signatures)
    data = head + b"From: a@example.com\r\n\r\nbody\r\n"
    mail = core_dkim.read(data)
    assert mail is not None
    want = sorted({s.key_name for s in mail.signatures if s.key_name})
    assert core_dkim.key_names(data) == want
    assert core_dkim.read_header(data).signatures == [
        (s.domain, s.selector, s.key_name) for s in mail.signatures]
