"""core.dns_wire against dnspython: the same query bytes, the same answer read from the same
message (names, addresses, TXT strings, MX, TLSA, CNAME chains, TTLs, rcode, AD/TC, RRSIGs),
and malformed or stray bytes never raise anything but WireError (or "not for us": None)."""

from __future__ import annotations

import contextlib

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlsrpt_tui.core import dns_wire as wire


def _query(name: str, rdtype: str, dnssec: bool = True) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=dnssec, payload=1232)
    q.flags |= dns.flags.AD | dns.flags.RD
    return q


def _answer(q: dns.message.Message, *rrsets: tuple, authority=(), rcode=0, ad=True) -> bytes:
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if ad:
        r.flags |= dns.flags.AD
    for name, ttl, rdtype, *texts in rrsets:
        r.answer.append(dns.rrset.from_text(name, ttl, "IN", rdtype, *texts))
    for name, ttl, rdtype, *texts in authority:
        r.authority.append(dns.rrset.from_text(name, ttl, "IN", rdtype, *texts))
    return r.to_wire()


RRSIG = "A 13 3 300 20300101000000 20200101000000 12345 example.test. " + "AAAA" * 16


def test_query_bytes_are_dnspythons() -> None:
    for name, rdtype, dnssec in [("_25._tcp.mx1.example.test", "TLSA", True),
                                 ("example.test.", "MX", False)]:  # fmt: skip
        q = _query(name, rdtype, dnssec)
        ours = wire.build_query(q.id, wire.encode_name(name), dns.rdatatype.from_text(rdtype),
                                dnssec=dnssec, payload=1232)  # fmt: skip
        assert ours == q.to_wire()


def test_answer_with_cname_chain_rrsigs_and_denial() -> None:
    q = _query("Mail.Example.test", "A")
    data = _answer(
        q,
        ("mail.example.test.", 300, "CNAME", "Host.Provider.test."),
        ("mail.example.test.", 300, "RRSIG", RRSIG.replace("A 13", "CNAME 13")),
        ("host.provider.test.", 60, "A", "192.0.2.1", "192.0.2.2"),
        ("host.provider.test.", 30, "RRSIG", RRSIG),
        authority=[("provider.test.", 300, "NSEC", "zzz.provider.test. A RRSIG NSEC")],
    )
    reply = wire.parse_reply(data, q.id, wire.encode_name("Mail.Example.test"), 1)
    assert reply is not None and reply.secure and reply.signed and not reply.truncated
    assert reply.rcode == 0
    cname = reply.rrset("mail.example.test", wire.TYPE_CNAME)
    assert cname is not None and cname.records == [wire.Cname("Host.Provider.test")]
    a = reply.rrset("host.provider.test", wire.TYPE_A)
    assert a is not None and a.ttl == 60
    assert sorted(a.records) == [wire.Address("192.0.2.1"), wire.Address("192.0.2.2")]


def test_record_types_read_as_dnspython_reads_them() -> None:
    cases = [
        ("AAAA", ["2001:db8::1", "::ffff:192.0.2.1", "2001:db8:0:1:0:0:0:1"]),
        ("TXT", ['"v=STSv1; id=1"', '"part one" "part two"', '""']),
        ("MX", ["10 mx1.example.test.", "0 .", '20 we\\"ird\\032na\\.me.example.test.']),
        ("TLSA", ["3 1 1 " + "ab" * 32, "2 0 2 " + "cd" * 64]),
        ("SOA", ["ns.test. host.test. 1 2 3 4 5"]),
    ]
    for rdtype, texts in cases:
        q = _query("example.test", rdtype)
        data = _answer(q, ("example.test.", 300, rdtype, *texts))
        parsed = dns.message.from_wire(data)
        theirs = list(parsed.answer[0])
        reply = wire.parse_reply(data, q.id, wire.encode_name("example.test"),
                                 dns.rdatatype.from_text(rdtype))  # fmt: skip
        assert reply is not None
        ours = reply.answer[0].records
        assert len(ours) == len(theirs), rdtype
        # The same set (dnspython keeps a set; we keep the order of the message).
        if rdtype in ("AAAA",):
            assert sorted(r.address for r in ours) == sorted(r.address for r in theirs)
        elif rdtype == "TXT":
            assert sorted(r.strings for r in ours) == sorted(tuple(r.strings) for r in theirs)
        elif rdtype == "MX":
            assert sorted((r.preference, r.exchange) for r in ours) == sorted(
                (r.preference, r.exchange.to_text(omit_final_dot=True)) for r in theirs)
        elif rdtype == "TLSA":
            assert sorted(ours) == sorted(
                (r.usage, r.selector, r.mtype, bytes(r.cert)) for r in theirs)
        else:
            assert ours[0].rdtype == dns.rdatatype.SOA  # kept as sent, not read


def test_rcode_nxdomain_extended_rcode_and_truncation() -> None:
    q = _query("nothing.example.test", "TXT")
    name = wire.encode_name("nothing.example.test")
    data = _answer(q, rcode=dns.rcode.NXDOMAIN,
                   authority=[("example.test.", 300, "SOA", "ns.test. h.test. 1 2 3 4 5")])
    reply = wire.parse_reply(data, q.id, name, wire.TYPE_TXT)
    assert reply is not None and reply.rcode == dns.rcode.NXDOMAIN and reply.answer == []
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.BADVERS)  # 16: needs the OPT record's extended bits
    reply = wire.parse_reply(r.to_wire(), q.id, name, wire.TYPE_TXT)
    assert reply is not None and reply.rcode == dns.rcode.BADVERS
    r = dns.message.make_response(q)
    r.flags |= dns.flags.TC
    reply = wire.parse_reply(r.to_wire(), q.id, name, wire.TYPE_TXT)
    assert reply is not None and reply.truncated


def test_stray_datagrams_are_not_answers() -> None:
    q = _query("example.test", "A")
    name = wire.encode_name("example.test")
    data = _answer(q, ("example.test.", 300, "A", "192.0.2.1"))
    assert wire.parse_reply(data, q.id ^ 1, name, wire.TYPE_A) is None  # another ID
    assert wire.parse_reply(data, q.id, wire.encode_name("other.test"), wire.TYPE_A) is None
    assert wire.parse_reply(data, q.id, name, wire.TYPE_AAAA) is None
    assert wire.parse_reply(q.to_wire(), q.id, name, wire.TYPE_A) is None  # a query, not a reply
    assert wire.parse_reply(b"\x00" * 5, q.id, name, wire.TYPE_A) is None


def test_compression_loops_and_overruns_are_wire_errors() -> None:
    q = _query("example.test", "A")
    name = wire.encode_name("example.test")
    good = bytearray(_answer(q, ("example.test.", 300, "A", "192.0.2.1")))
    loop = bytearray(good)
    owner = 12 + len(name) + 4  # the answer's owner name: a pointer to the question's name
    assert loop[owner] & 0xC0 == 0xC0
    loop[owner:owner + 2] = bytes([0xC0, owner])  # points at itself
    with pytest.raises(wire.WireError):
        wire.parse_reply(bytes(loop), q.id, name, wire.TYPE_A)
    with pytest.raises(wire.WireError):
        wire.parse_reply(bytes(good[:-20]), q.id, name, wire.TYPE_A)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=0, max_size=6))
def test_names_print_as_dnspython_prints_them(labels: list[bytes]) -> None:
    try:
        n = dns.name.Name([*labels, b""])
    except dns.name.NameTooLong:
        return
    assert wire.name_text(n.to_wire()) == n.to_text(omit_final_dot=True)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mangled_answers_never_raise_anything_else(data: st.DataObject) -> None:
    q = _query("example.test", "MX")
    name = wire.encode_name("example.test")
    good = bytearray(_answer(q, ("example.test.", 300, "MX", "10 mx1.example.test.",
                                 "20 mx2.example.test."),
                             ("example.test.", 300, "RRSIG", RRSIG.replace("A 13", "MX 13"))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(12, len(good) - 1))
        good[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(12, len(good)))
    with contextlib.suppress(wire.WireError):
        wire.parse_reply(bytes(good[:cut]), q.id, name, wire.TYPE_MX)
