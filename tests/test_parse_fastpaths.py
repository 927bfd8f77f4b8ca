"""The parser process's shortcuts give what the long way gives.

``prepare`` (service/ingest.py) takes shortcuts for the common report mail: a DKIM verdict
decided from a few header fields when no signature has a key to check, the envelope notes
added without ``dataclasses.replace``, the header fields found with their continuation lines
in one pattern, the raw bytes compressed with a small zlib state. Each is held here to the
result of the way it replaced, on odd headers as well as plain ones.
"""

from __future__ import annotations

import dataclasses
import pickle
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_factory import report, sts_policy, to_mail

from tlsrpt_tui.core import dkim as core_dkim
from tlsrpt_tui.core.mime import read_message
from tlsrpt_tui.core.parse import parse_bytes, sniff
from tlsrpt_tui.core.report_json import with_notes
from tlsrpt_tui.service.dkim import DkimKeys, verdict_of
from tlsrpt_tui.store import reports as db

GONE = "gone._domainkey.sender.example"
KEYS = {
    GONE: core_dkim.KeyRecord(missing=True),
    "gone._domainkey.other.example": core_dkim.KeyRecord(missing=True),
    "empty._domainkey.sender.example": core_dkim.KeyRecord(text=b""),
    "down._domainkey.sender.example": core_dkim.KeyRecord(failure="timeout"),
    "real._domainkey.sender.example": core_dkim.KeyRecord(text=b"v=DKIM1; k=rsa; p=AAAA"),
}


def _mail(submitter: str = "sender.example") -> bytes:
    rep = report("Sender Org", "fast-1", "2026-05-11", [sts_policy("example.org", 10, 2)])
    return to_mail(rep, submitter=submitter, msgid=1)


def _signature(selector: str, domain: str = "sender.example", extra: str = "") -> bytes:
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain};"
            f" s={selector};{extra}\r\n h=from:subject; bh=AAAA; b=BBBB\r\n").encode()


def _full_path(data: bytes) -> core_dkim.DkimVerdict:
    """``verify`` the long way: the message split first (as a sync does), no shortcut."""
    mail = core_dkim.read(data)
    return core_dkim.verify(mail, KEYS) if mail is not None else core_dkim.DkimVerdict(
        "permerror")


def _batch_path_agrees(data: bytes) -> None:
    """The parser process's one read of the header block (``read_header``: the key names,
    then the verdict when no key is published) gives what the long way gives: ``none``
    where the header block has no DKIM-Signature field, else the full verdict."""
    header = core_dkim.read_header(data)
    lines = []
    if not data.startswith((b"\n", b"\r\n")):
        for line in data.split(b"\n"):
            if line in (b"", b"\r"):
                break
            lines.append(line)
    signed = any(line.lower().startswith(b"dkim-signature:") for line in lines)
    assert bool(header.signatures) == signed
    assert core_dkim.verify(data, KEYS, header) == _full_path(data)
    if sniff(data) != "mail":
        assert DkimKeys(KEYS).verdict(data) is None  # not mail: nothing to verify
    else:
        assert DkimKeys(KEYS).verdict(data) == (_full_path(data) if signed
                                               else core_dkim.DkimVerdict("none"))


HEADERS = [
    b"",
    _signature("gone"),
    _signature("empty"),
    _signature("gone", "other.example") + _signature("gone"),  # the aligned one counts
    _signature("gone") + _signature("down"),  # a lookup to retry: the long way
    _signature("gone") + _signature("real"),  # a key to check with: the long way
    _signature("nowhere"),  # a key nobody looked up: temperror, the long way
    _signature("gone", extra=" d=twice.example;"),  # unparseable tags
    b"DKIM-Signature: garbage\r\n",
    b"dkim-signature:v=1;d=sender.example;s=gone\r\n",
    b"DKIM-Signature : v=1; d=sender.example; s=gone\r\n",  # not a field name dkimpy reads
    b"From other@evil.example\r\n" + _signature("gone"),  # an mbox From line: the long way
    b" folded first\r\n" + _signature("gone"),
    b"no colon here\r\n" + _signature("gone"),
    _signature("gone") + b"From: Someone <x@tlsrpt.sender.example>\r\n",
    _signature("gone") + b"TLS-Report-Submitter: evil.example\r\n",
    _signature("gone") * core_dkim.MAX_SIGNATURES + _signature("real"),  # the fifth unread
    _signature("gone", extra=" s=twice;") + _signature("gone", "other.example"),
    b"DKIM-Signature: v=1; s=gone\r\n" + _signature("gone", "other.example"),  # no d=
    b"DKIM-Signature: v=1; d=sender.example\r\n",  # no s=
    b"DKIM-Signature: v=1; d = Sender.Example. ;\r\n\ts = g\r\n one; b=x\r\n",  # folded
    b"From: A <a@x.example>, b@sender.example\r\n" + _signature("gone"),
]


@pytest.mark.parametrize("lf", [False, True], ids=["crlf", "lf"])
@pytest.mark.parametrize("header", HEADERS, ids=range(len(HEADERS)))
def testkeyless_verdict_is_the_full_verdict(header: bytes, lf: bool) -> None:
    data = header + _mail()
    if lf:
        data = data.replace(b"\r\n", b"\n")
    assert core_dkim.verify(data, KEYS) == _full_path(data)
    _batch_path_agrees(data)


def test_keyless_verdict_decides_a_missing_key_alone() -> None:
    verdict = core_dkim.read_header(_signature("gone") + _mail()).keyless_verdict(KEYS)
    assert verdict == core_dkim.DkimVerdict("permerror", "sender.example", "gone", True)
    assert core_dkim.read_header(_signature("real") + _mail()).keyless_verdict(KEYS) is None


_line = st.sampled_from([
    b"DKIM-Signature: v=1; d=sender.example; s=gone; b=x", b"DKIM-Signature: v=1; d=x; s=y",
    b"From: a@sender.example", b"TLS-Report-Submitter: other.example", b" continued",
    b"\tcontinued", b"X-Odd Name: z", b"From mbox", b"Subject:", b"from:b@c.d",
    b"DKIM-Signature: v=1; d=sender.example;\r\n s=empty", b"no colon", b"\r",
    b"", b"DKIM-SIGNATURE:s=gone;d=Sender.Example.", b"DKIM-Signature: v=1; s=gone",
    b"From: Someone <x@sender.example>", b"Subject: a\rb", b"X-Bare: lf\nDKIM-Signature: d",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_line, max_size=6), lf=st.booleans())
def testkeyless_verdict_on_any_header(lines: list[bytes], lf: bool) -> None:
    data = b"".join(line + b"\r\n" for line in lines) + _mail()
    if lf:
        data = data.replace(b"\r\n", b"\n")
    assert core_dkim.verify(data, KEYS) == _full_path(data)
    _batch_path_agrees(data)


def test_envelope_notes_keep_every_field_of_the_report() -> None:
    parsed = parse_bytes(_mail(), "m")
    (rep,) = parsed.reports
    assert rep.notes  # the mail is unsigned: its envelope notes say so
    assert with_notes(rep, ["one", "two"]) == dataclasses.replace(
        rep, notes=(*rep.notes, "one", "two"))


def test_folded_header_of_a_million_lines_is_read() -> None:
    data = b"Subject: Report-ID: <a>" + b"\r\n b" * 1_000_000 + b"\r\nFrom: x@y\r\n\r\nbody"
    msg = read_message(data)
    assert msg.subject == "Report-ID: <a>" + " b" * 1_000_000
    assert msg.from_ == "x@y"


def test_stored_bytes_are_a_zlib_stream_any_reader_inflates() -> None:
    data = _mail() * 50
    assert zlib.decompress(db.compress(data)) == data
    assert zlib.decompressobj().decompress(db.compress(b"")) == b""


@pytest.mark.parametrize("trusted", [None, "mx.example"])
@pytest.mark.parametrize("header", HEADERS[:4], ids=range(4))
def test_batch_verdict_is_verdict_of(header: bytes, trusted: str | None) -> None:
    """The parser process's verdict (``DkimKeys.verdict``) with its shortcut, the account's
    own MTA's word included where the key is gone."""
    vouch = b"Authentication-Results: mx.example; dkim=pass header.d=sender.example\r\n"
    data = vouch + header + _mail()
    verdict = DkimKeys(KEYS, trusted).verdict(data)
    assert verdict == verdict_of(data, KEYS, trusted)
    if trusted and header:
        assert verdict is not None and verdict.authserv_id == trusted


def test_parsed_input_and_verdict_pickle_as_their_fields() -> None:
    """What a parser process sends back comes out equal, every field kept."""
    parsed = parse_bytes(_mail(), "m")
    verdict = core_dkim.DkimVerdict("pass", "sender.example", "sel", True, "mx.example")
    again = pickle.loads(pickle.dumps((parsed, verdict), pickle.HIGHEST_PROTOCOL))
    assert again == (parsed, verdict)
    assert again[0].reports and again[0].status is parsed.status
