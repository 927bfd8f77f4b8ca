"""DNS messages on the wire, just what the live checks need: one query out, one answer read.

Why not dnspython's ``Message``: building a query through it and parsing the whole answer into
its immutable objects was most of ``check``'s CPU (1,000 domains: ~8,000 answers, each with its
RRSIGs, and for a denial the authority section's NSEC3 records and their RRSIGs). A check only
reads the header (rcode, AD, TC), the answer section's records of the asked type and CNAMEs,
whether RRSIGs came with them, and the OPT record's extended rcode. So this module reads the
answer section's records of the few types the checks use (A, AAAA, CNAME, MX, TXT, TLSA) and
keeps every other record as its raw bytes; the authority and additional sections are walked
over (bounds-checked) without being decoded. Names come out as dnspython writes them
(``Name.to_text(omit_final_dot=True)``), so stored results read as before.

Untrusted input: every length is checked against the message, a compression pointer must point
backwards (no loops), a name is at most 255 bytes. A malformed message raises
:class:`WireError`.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import dns.ipv6  # pure: the same IPv6 text as dnspython's AAAA records (RFC 5952, ::ffff:a.b.c.d)

QR, TC, RD, AD = 0x8000, 0x0200, 0x0100, 0x0020
CLASS_IN = 1
TYPE_A, TYPE_CNAME, TYPE_MX, TYPE_TXT, TYPE_AAAA = 1, 5, 15, 16, 28
TYPE_OPT, TYPE_RRSIG, TYPE_TLSA = 41, 46, 52
DO = 0x8000  # in the OPT record's flags (its TTL field's low 16 bits)
_ERROR_RCODES = {1, 2, 4, 5}  # FORMERR, SERVFAIL, NOTIMP, REFUSED: may come without question

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_ESCAPED = frozenset(b'"().;\\@$')


class WireError(ValueError):
    """The bytes are not a well-formed DNS message."""


# -- records (the attribute names of dnspython's rdata, which the checks used before) --------
class Address(NamedTuple):
    """A or AAAA."""

    address: str


class Txt(NamedTuple):
    strings: tuple[bytes, ...]


class Mx(NamedTuple):
    preference: int
    exchange: str  # as Name.to_text(omit_final_dot=True): "." for the null MX


class Tlsa(NamedTuple):
    usage: int
    selector: int
    mtype: int
    cert: bytes


class Cname(NamedTuple):
    target: str


class Other(NamedTuple):
    """A record of a type the checks do not read (SOA, DNSKEY, …): its RDATA as sent (a name in
    it may be a compression pointer into the message)."""

    rdtype: int
    data: bytes


class RRset(NamedTuple):
    """The answer section's records of one owner name and type (class IN), duplicates merged."""

    name: str  # the owner name, lower case, without the final dot
    rdtype: int
    ttl: int  # the lowest of its records' TTLs
    records: list


class Reply(NamedTuple):
    flags: int
    rcode: int  # with the OPT record's extended bits
    answer: list[RRset]
    signed: bool  # RRSIGs came in the answer section

    @property
    def truncated(self) -> bool:
        return bool(self.flags & TC)

    @property
    def secure(self) -> bool:
        return bool(self.flags & AD)

    def rrset(self, name: str, rdtype: int) -> RRset | None:
        for rrset in self.answer:
            if rrset.rdtype == rdtype and rrset.name == name:
                return rrset
        return None


# -- the query ---------------------------------------------------------------------------
def encode_name(name: str) -> bytes | None:
    """Wire form of an ASCII host name without escapes; None when it needs dnspython's rules
    (escapes, IDNA) or is not a valid name (then dnspython says why)."""
    if "\\" in name or not name.isascii():
        return None
    labels = name.rstrip(".").split(".") if name not in (".", "") else []
    out = bytearray()
    for label in labels:
        if not 0 < len(label) < 64:
            return None
        out.append(len(label))
        out += label.encode("ascii")
    out.append(0)
    return bytes(out) if len(out) <= 255 else None


def build_query(qid: int, qname: bytes, qtype: int, *, dnssec: bool, payload: int) -> bytes:
    """A recursive query (RD) asking for the AD bit (RFC 6840 §5.7), with EDNS0 (``payload``
    bytes, DO set when ``dnssec``)."""
    header = _HEADER.pack(qid, RD | AD, 1, 0, 0, 1)
    opt = struct.pack("!BHHIH", 0, TYPE_OPT, payload, DO if dnssec else 0, 0)
    return header + qname + struct.pack("!HH", qtype, CLASS_IN) + opt


# -- the answer --------------------------------------------------------------------------
def parse_reply(wire: bytes, qid: int, qname: bytes, qtype: int) -> Reply | None:
    """The answer to the query (``qid``, ``qname`` wire form, ``qtype``); None when ``wire`` is
    not a response to it (another ID or question: ignored, as a stray datagram); WireError when
    it is one but malformed. A truncated answer (TC) is returned without its sections."""
    if len(wire) < 12:
        return None
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if ident != qid or not flags & QR or flags & 0x7800:  # not a response, or opcode not QUERY
        return None
    rcode = flags & 0xF
    pos = 12
    if qdcount == 0 and rcode in _ERROR_RCODES:
        pass
    elif qdcount != 1:
        return None
    else:
        try:
            name, pos = _read_name(wire, pos)
        except WireError:
            return None
        if pos + 4 > len(wire) or name.lower() != qname.lower():
            return None
        if struct.unpack_from("!HH", wire, pos) != (qtype, CLASS_IN):
            return None
        pos += 4
    if flags & TC:
        return Reply(flags, rcode, [], False)
    answer: dict[tuple[bytes, int], RRset] = {}
    seen: set[tuple[bytes, int, object]] = set()
    signed = False
    for _ in range(ancount):
        owner, pos = _read_name(wire, pos)
        rdtype, rdclass, ttl, _rdlen, start, pos = _read_rr_header(wire, pos)
        if rdclass != CLASS_IN:
            continue
        if rdtype == TYPE_RRSIG:
            signed = True
            continue
        record = _read_rdata(wire, rdtype, start, pos)
        key = (owner.lower(), rdtype)
        ident_key = (*key, record if rdtype not in (TYPE_MX, TYPE_CNAME) else _lower(record))
        if ident_key in seen:  # the same record twice: one record (dnspython's set semantics)
            continue
        seen.add(ident_key)
        rrset = answer.get(key)
        if rrset is None:
            answer[key] = RRset(name_text(owner).lower(), rdtype, ttl, [record])
        else:
            rrset.records.append(record)
            if ttl < rrset.ttl:
                answer[key] = rrset._replace(ttl=ttl)
    for _ in range(nscount):
        pos = _skip_name(wire, pos)
        pos = _read_rr_header(wire, pos)[-1]
    for _ in range(arcount):
        pos = _skip_name(wire, pos)
        rdtype, _rdclass, ttl, _rdlen, _start, pos = _read_rr_header(wire, pos)
        if rdtype == TYPE_OPT:
            rcode |= (ttl >> 24) << 4
    return Reply(flags, rcode, list(answer.values()), signed)


def _lower(record: object) -> object:
    if isinstance(record, Mx):
        return record._replace(exchange=record.exchange.lower())
    if isinstance(record, Cname):
        return record._replace(target=record.target.lower())
    return record


def _read_rr_header(wire: bytes, pos: int) -> tuple[int, int, int, int, int, int]:
    """(type, class, TTL, RDLENGTH, RDATA start, RDATA end)."""
    if pos + 10 > len(wire):
        raise WireError("record header past the end of the message")
    rdtype, rdclass, ttl, rdlen = _RR.unpack_from(wire, pos)
    start = pos + 10
    end = start + rdlen
    if end > len(wire):
        raise WireError("record data past the end of the message")
    return rdtype, rdclass, ttl, rdlen, start, end


def _read_rdata(wire: bytes, rdtype: int, start: int, end: int) -> object:
    data = wire[start:end]
    if rdtype == TYPE_A:
        if len(data) != 4:
            raise WireError("an A record is not 4 bytes")
        return Address(f"{data[0]}.{data[1]}.{data[2]}.{data[3]}")
    if rdtype == TYPE_AAAA:
        if len(data) != 16:
            raise WireError("an AAAA record is not 16 bytes")
        return Address(dns.ipv6.inet_ntoa(data))
    if rdtype == TYPE_TXT:
        strings = []
        i = 0
        while i < len(data):
            n = data[i]
            if i + 1 + n > len(data):
                raise WireError("a TXT string runs past its record")
            strings.append(data[i + 1:i + 1 + n])
            i += 1 + n
        return Txt(tuple(strings))
    if rdtype == TYPE_MX:
        if len(data) < 3:
            raise WireError("an MX record is too short")
        exchange, after = _read_name(wire, start + 2)
        if after != end:
            raise WireError("an MX record has bytes after its name")
        return Mx(int.from_bytes(data[:2], "big"), name_text(exchange))
    if rdtype == TYPE_CNAME:
        target, after = _read_name(wire, start)
        if after != end:
            raise WireError("a CNAME record has bytes after its name")
        return Cname(name_text(target))
    if rdtype == TYPE_TLSA:
        if len(data) < 3:
            raise WireError("a TLSA record is too short")
        return Tlsa(data[0], data[1], data[2], data[3:])
    return Other(rdtype, data)


def _read_name(wire: bytes, pos: int) -> tuple[bytes, int]:
    """(the name's uncompressed wire form, the position after it where it was read)."""
    out = bytearray()
    end = -1  # where reading continues: after the first pointer, or after the name
    lowest = pos  # a pointer must point before every place already read
    while True:
        if pos >= len(wire):
            raise WireError("a name runs past the end of the message")
        n = wire[pos]
        if n == 0:
            out.append(0)
            if len(out) > 255:
                raise WireError("a name is longer than 255 bytes")
            return bytes(out), (pos + 1 if end < 0 else end)
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(wire):
                raise WireError("a compression pointer runs past the end of the message")
            target = ((n & 0x3F) << 8) | wire[pos + 1]
            if target >= lowest:
                raise WireError("a compression pointer does not point backwards")
            if end < 0:
                end = pos + 2
            pos = lowest = target
            continue
        if n & 0xC0:
            raise WireError("unknown label type")
        if pos + 1 + n > len(wire):
            raise WireError("a label runs past the end of the message")
        out += wire[pos:pos + 1 + n]
        if len(out) > 255:
            raise WireError("a name is longer than 255 bytes")
        pos += 1 + n


def _skip_name(wire: bytes, pos: int) -> int:
    """The position after the name at ``pos`` (a pointer ends it; its target is not read)."""
    while True:
        if pos >= len(wire):
            raise WireError("a name runs past the end of the message")
        n = wire[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(wire):
                raise WireError("a compression pointer runs past the end of the message")
            return pos + 2
        if n & 0xC0:
            raise WireError("unknown label type")
        pos += 1 + n


def name_text(name: bytes) -> str:
    """A wire name as ``dns.name.Name.to_text(omit_final_dot=True)`` writes it ("." = root)."""
    if name == b"\x00":
        return "."
    labels = []
    pos = 0
    while name[pos]:
        n = name[pos]
        label = name[pos + 1:pos + 1 + n]
        pos += 1 + n
        if (label.isascii() and label.isalnum()) or _plain(label):
            labels.append(label.decode("ascii"))
        else:
            labels.append(_escape(label))
    return ".".join(labels)


def _plain(label: bytes) -> bool:
    return all(0x20 < c < 0x7F and c not in _ESCAPED for c in label)


def _escape(label: bytes) -> str:
    out = []
    for c in label:
        if c in _ESCAPED:
            out.append("\\" + chr(c))
        elif 0x20 < c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    return "".join(out)
