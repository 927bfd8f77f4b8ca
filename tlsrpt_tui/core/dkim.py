"""DKIM verdicts for report mail (RFC 8460 §3, RFC 6376), given the key records: no I/O here.

The rua address is public, so anyone can mail a "report". RFC 8460 §3 wants report mail
DKIM-signed by the reporting organization; a forged ``DKIM-Signature: d=google.com`` looks as
good as a real one until the signature is checked against the key in DNS. Verification is
split in two so the event loop never waits on CPU and the CPU part never waits on DNS:

1. :func:`read_header` reads the few header fields that name the keys a message needs
   (``selector._domainkey.domain``); the caller fetches them (net/dkim_keys.py, through the
   configured resolver, cached);
2. :func:`verify` checks the signatures with dkimpy against those records (pure CPU) and
   returns a :class:`~tlsrpt_tui.core.model.DkimVerdict`; when no signature has a published
   key it decides from what step 1 read, without splitting the message or loading dkimpy.

dkimpy's ``tlsrpt`` option is used: keys of service type ``tlsrpt`` (RFC 8460 §3) are accepted
as well as ordinary ones, and an ``l=`` body length is ignored (the whole body must match).

Results follow RFC 8601: ``pass``, ``fail`` (the signature or body hash does not match: the
mail was altered or forged), ``none`` (unsigned), ``temperror`` (the key could not be fetched:
DNS trouble), ``permerror`` (no usable key or a malformed signature). ``aligned`` says whether
the signer is the reporting organization: its domain equals, or is a parent of, the
``TLS-Report-Submitter`` or From domain.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

from tlsrpt_tui.core.model import DkimVerdict

#: Signatures looked at per message (a message with dozens is hostile, not careful).
MAX_SIGNATURES = 4

_QUIET = logging.getLogger("tlsrpt_tui.dkimpy")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def _dkimpy() -> ModuleType:
    """dkimpy, imported when a signature is first checked, not with this module.

    Why: dkimpy (and the dnspython it pulls in) and ``cryptography`` are a third of the module
    imports of every ``import``, ``sync`` and parser process, yet a batch of unsigned mail, or
    of mail whose key is not published, needs neither (tag parsing and the header split are
    ours)."""
    import dkim

    return dkim


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What DNS said about one key name: its TXT text, or that there is none, or a failure."""

    text: bytes | None = None  # the TXT record (strings joined), when found
    missing: bool = False  # NXDOMAIN / NODATA: the key is not (or no longer) published
    failure: str | None = None  # the lookup failed (timeout, SERVFAIL): could not check


@dataclass(frozen=True, slots=True)
class _Sig:
    index: int
    domain: str
    selector: str
    key_name: str
    name: bytes  # the field's name as written (``DKIM-Signature`` in any case)
    value: bytes  # the DKIM-Signature field's raw value (hashed with its b= emptied)
    fields: dict[bytes, bytes] | None  # its tags; None when they do not parse


@dataclass(frozen=True, slots=True)
class SignedMail:
    """A message split for DKIM: its header fields (as dkimpy's ``rfc822_parse`` gives them),
    its body and its signatures (each signature's tags parsed once)."""

    headers: list[tuple[bytes, bytes]]
    names: list[bytes]  # the fields' names in lower case, in order (looked up many times)
    body: bytes
    signatures: list[_Sig]


#: One header field with its folded continuation lines, in a CRLF-only header block.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+):([^\n]*\n(?:[ \t][^\n]*\n)*)")


def _split(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Header fields and body, exactly as ``dkim.rfc822_parse`` returns them (a field's value
    keeps its folds and ends in CRLF; the body is CRLF-separated).

    Why not dkimpy's own: it splits the whole message into lines and matches a pattern per
    line in Python, and real report mail has up to ~200 header lines (Received, ARC, …). Here a
    CRLF-only message (mail from IMAP) is read by one pattern over the header block; anything
    else (bare LF, an mbox ``From `` line, an odd field name) goes to dkimpy's parser.

    ValueError when a header line is neither a field, a continuation nor an mbox ``From ``."""
    if data.count(b"\n") == data.count(b"\r\n"):
        if data.startswith(b"\r\n"):
            return [], data[2:]
        end = data.find(b"\r\n\r\n")
        if end < 0:
            head, body = (data if data.endswith(b"\r\n") else data + b"\r\n"), b""
        else:
            head, body = data[: end + 2], data[end + 4:]
        fields: list[tuple[bytes, bytes]] = _FIELD.findall(head)
        if sum(map(len, itertools.chain.from_iterable(fields))) + len(fields) == len(head):
            # every byte of the header block is in a field (name, colon, value)
            return fields, body
    try:
        headers, body = _dkimpy().rfc822_parse(data)
    except (_dkimpy().DKIMException, IndexError) as exc:
        raise ValueError(str(exc)) from None
    return [(n, v) for n, v in headers], body


def read(data: bytes) -> SignedMail | None:
    """The message split for verification; None when its header cannot be read."""
    try:
        headers, body = _split(data)
    except ValueError:
        return None
    names = [n.lower() for n, _ in headers]
    return SignedMail(headers, names, body, _signatures(headers, names))


def _headers(data: bytes) -> list[tuple[bytes, bytes]]:
    try:
        return _split(data)[0]
    except ValueError:  # an unreadable header: treat as no headers
        return []


_TAG = {tag: re.compile(rb"(?:^|;)\s*" + tag + rb"\s*=\s*([^;]*)") for tag in (b"d", b"s")}


def _tag(value: bytes, tag: bytes) -> bytes | None:
    m = _TAG[tag].search(value)
    return m.group(1) if m else None


def _signatures(headers: list[tuple[bytes, bytes]], names: list[bytes] | None = None
                ) -> list[_Sig]:
    lower = names if names is not None else [n.lower() for n, _ in headers]
    out: list[_Sig] = []
    at = [i for i, n in enumerate(lower) if n == b"dkim-signature"][:MAX_SIGNATURES]
    for index, (name, value) in enumerate(headers[i] for i in at):
        try:
            fields: dict[bytes, bytes] | None = tag_values(value)
        except _dkimpy().util.InvalidTagValueList:
            fields = None
        raw_d = fields.get(b"d") if fields is not None else _tag(value, b"d")
        raw_s = fields.get(b"s") if fields is not None else _tag(value, b"s")
        domain = _ascii(raw_d).rstrip(".").lower()
        selector = _ascii(raw_s).lower()
        key = f"{selector}._domainkey.{domain}" if domain and selector else ""
        out.append(_Sig(index, domain, selector, key, name, value, fields))
    return out


def tag_values(value: bytes) -> dict[bytes, bytes]:
    """dkimpy's ``util.parse_tag_value`` (RFC 6376 §3.2; same result, same errors) without a
    regular expression compiled per tag: a tag name must start with a letter."""
    tags: dict[bytes, bytes] = {}
    specs = value.strip().split(b";")
    if not specs[-1]:  # a trailing semicolon is allowed
        specs.pop()
    for spec in specs:
        key, eq, val = spec.partition(b"=")
        key = key.strip()
        if not eq or not key[:1].isalpha():
            raise _dkimpy().util.InvalidTagSpec(spec)
        if key in tags:
            raise _dkimpy().util.DuplicateTag(key)
        tags[key] = val.strip()
    return tags


#: What ``\s`` matches in a bytes pattern: ASCII white space.
_BYTES_WS = b" \t\n\r\x0b\x0c"


def _ascii(value: bytes | None) -> str:
    if not value:
        return ""
    # = re.sub(rb"\s+", b"", value): a translate, not a regex, as this runs for every
    # signature of every mail (read_header, and again on the full path)
    text = value.translate(None, _BYTES_WS).decode("ascii", "replace")
    return text if text.isprintable() else "".join(c for c in text if c.isprintable())


#: The end of a message's header block: the first empty line (as dkimpy's rfc822_parse reads).
_HEADER_END = re.compile(rb"\n\r?\n")
#: The fields the key names and a verdict without a key read (DKIM-Signature, From,
#: TLS-Report-Submitter), with their folded continuation lines (the name as rfc822_parse reads
#: it: no space before the colon). Searched in the header block after a line feed put before
#: it: a pattern that starts with a line feed is looked for by a fast scan, where ``^`` with
#: MULTILINE tries every byte. (The value lacks its last line feed: it is only read for tags
#: and domains, stripped.)
_HEADER_FIELD = re.compile(
    rb"\n(?=[dDfFtT])(dkim-signature|from|tls-report-submitter):([^\n]*(?:\n[ \t][^\n]*)*+)",
    re.I)
#: A header block of CRLF lines, each a field (its name as _FIELD reads it) or a continuation
#: of one, the first a field (any bare CR stays inside its line, as _FIELD reads it). One
#: pattern, not a count of the line ends and a search for an odd line: a call of a pattern
#: costs more than the scan. Possessive, so it keeps no backtracking state per line.
_PLAIN_HEAD = re.compile(
    rb"(?:[\x21-\x39\x3b-\x7e]+:[^\n]*\r\n(?:[ \t][^\n]*\r\n)*+)*+")


@dataclass(slots=True)
class SignedHeader:
    """What the key lookup and a verdict without a key need from a message's header block,
    read by :func:`read_header` in one scan: each DKIM-Signature's signer and key name, and
    the From and TLS-Report-Submitter fields (for alignment).

    Why one read: a parser process of ``import`` or ``sync`` needs, per mail, whether it is
    signed, the keys to look up, and, when none of them is published (the common case of an
    import: rotated keys), the verdict. It was read twice, the same tags parsed twice; one
    read (with the cheaper steps around it) took the step from ~150k to ~85k instructions a
    mail (bench/README.md, Import)."""

    #: (domain, selector, key name) of the first MAX_SIGNATURES DKIM-Signature fields, in
    #: order; the key name is "" when d= or s= is missing
    signatures: list[tuple[str, str, str]]
    #: the From and TLS-Report-Submitter fields (name as written, value), in order
    reporting: list[tuple[bytes, bytes]]
    #: the header block (with its last line's CRLF) and the message it came from
    head: bytes
    data: bytes

    def key_names(self) -> list[str]:
        """The DNS names of the keys the signatures need, sorted, each once (may be empty)."""
        return sorted({key for _, _, key in self.signatures if key})

    def keyless_verdict(self, keys: Mapping[str, KeyRecord]) -> DkimVerdict | None:
        """``verify``'s verdict when no signature has a key to check (each names a key DNS
        says is not published, or cannot name one), without splitting the message or
        importing dkimpy; None when some signature needs the full check (a key to check
        with, a lookup to retry) or the header block is not one :func:`read` splits into
        these same fields (see ``_plain``).

        Why: most signed mail of an import may name a key that is gone (rotated away, or a
        forged signature), and splitting the whole header for it was ~40 µs a mail in the
        parser process."""
        if not self._plain():
            return None
        if not self.signatures:
            return DkimVerdict("none")
        for _, _, key in self.signatures:
            if key:
                record = keys.get(key)
                if record is None or record.failure is not None or (
                        record.text and not record.missing):
                    return None  # a key to check with, or a lookup to retry: _verify_one decides
        decide = _without_keys if len(self.head) <= _CACHED_HEAD else _without_keys.__wrapped__
        return decide(tuple(self.signatures), tuple(self.reporting))

    def _plain(self) -> bool:
        """Whether the header block is CRLF lines, each a field or a continuation of one, and
        ends in an empty CRLF line: ``read`` splits any such block into these same fields
        (anything else, an mbox ``From `` line, bare line feeds or an unreadable header, takes
        the full path)."""
        head = self.head
        end = len(head)
        return (head[-2:] == b"\r\n" and self.data[end:end + 2] == b"\r\n"
                and _PLAIN_HEAD.fullmatch(head) is not None)


#: The largest header block whose fields ``_without_keys`` keeps (256 of them at most: a few
#: MB however hostile the mail); a bigger one is decided without the cache.
_CACHED_HEAD = 16384


@functools.lru_cache(maxsize=256)
def _without_keys(signatures: tuple[tuple[str, str, str], ...],
                  reporting: tuple[tuple[bytes, bytes], ...]) -> DkimVerdict:
    """The verdict when every signature is a permerror (no key): the first aligned one
    counts, else the first (``verify``'s order). Cached: an import's mail comes from a few
    senders, and the alignment (decoding the From fields) and the verdict cost more than
    the rest of the shortcut."""
    domains = reporting_domains(list(reporting))
    for domain, selector, _ in signatures:
        if is_aligned(domain, domains):
            return DkimVerdict("permerror", domain or None, selector or None, True)
    domain, selector, _ = signatures[0]
    return DkimVerdict("permerror", domain or None, selector or None, False)


def read_header(data: bytes) -> SignedHeader:
    """The DKIM-Signature, From and TLS-Report-Submitter fields of the message's header block
    (up to its first empty line; none when the first line is empty), read in one scan.

    Only these fields are looked at: a real report mail has ~180 header lines and a body, and
    splitting them all (dkimpy's parser) cost ~0.3 ms a message. d= and s= are read as
    ``_signatures`` reads them (see ``_signer``)."""
    if data[:1] == b"\n" or data[:2] == b"\r\n":
        return SignedHeader([], [], b"", data)  # an empty first line: no header at all
    end = _HEADER_END.search(data)
    head = data if end is None else data[: end.start() + 1]
    signatures: list[tuple[str, str, str]] = []
    reporting: list[tuple[bytes, bytes]] = []
    for name, value in _HEADER_FIELD.findall(b"\n" + head):
        if len(name) != 14:  # From, TLS-Report-Submitter
            reporting.append((name, value))
        elif len(signatures) < MAX_SIGNATURES:
            domain, selector = _signer(value)
            key = f"{selector}._domainkey.{domain}" if domain and selector else ""
            signatures.append((domain, selector, key))
    return SignedHeader(signatures, reporting, head, data)


def _signer(value: bytes) -> tuple[str, str]:
    """A DKIM-Signature's d= (without a trailing dot) and s=, lower case, white space dropped.

    The same text ``_signatures`` reads, whether or not the tags parse: the first tag of that
    name, from its ``=`` to the next ``;`` (``(?:^|;)\\s*d\\s*=\\s*([^;]*)`` as a pattern), white
    space dropped by ``_ascii``. Here the white space goes first: a tag is then named ``d``
    exactly when ``;d=`` follows its ``;``, a search for a fixed string. A pattern per tag, or
    splitting the tags in Python, cost two to four times as much."""
    tags = b";" + value.translate(None, _BYTES_WS)
    return _tag_text(tags, b";d=").rstrip(".").lower(), _tag_text(tags, b";s=").lower()


def _tag_text(tags: bytes, start: bytes) -> str:
    """The value of the first tag beginning with ``start`` in tags without white space, as
    ``_ascii`` gives it ("" when there is none)."""
    at = tags.find(start)
    if at < 0:
        return ""
    at += 3
    end = tags.find(b";", at)
    text = (tags[at:end] if end >= 0 else tags[at:]).decode("ascii", "replace")
    return text if text.isprintable() else "".join(c for c in text if c.isprintable())


def key_names(data: bytes) -> list[str]:
    """The DNS names of the keys this message's DKIM signatures need (may be empty)."""
    return read_header(data).key_names()


# --------------------------------------------------------------------------------------------
# Alignment


_ANGLE = re.compile(r"<([^<>]*)>")


def _domain_of(address: str | None) -> str:
    """The domain of a From-style address (``Name <a@b.example>`` or ``a@b.example``)."""
    if not address:
        return ""
    m = _ANGLE.search(address) if "<" in address else None  # most From fields have none
    addr = m.group(1) if m else address
    return addr.rpartition("@")[2].strip().rstrip(".").lower() if "@" in addr else ""


def reporting_domains(headers: list[tuple[bytes, bytes]],
                      names: list[bytes] | None = None) -> list[str]:
    """The domains a signer must be (or be a parent of): TLS-Report-Submitter and From.
    ``names``: the fields' names in lower case, when the caller has them."""
    lower = names if names is not None else [n.lower() for n, _ in headers]
    found: list[str] = []
    for lname, (_, value) in zip(lower, headers, strict=True):
        if lname == b"from":
            domain = _domain_of(value.decode("utf-8", "replace").strip())
        elif lname == b"tls-report-submitter":
            domain = value.decode("utf-8", "replace").strip().rstrip(".").lower()
        else:
            continue
        if domain and domain not in found:
            found.append(domain)
    return found


def is_aligned(signer: str, domains: list[str]) -> bool:
    """The signer is one of the reporting domains or a parent of one (``google.com`` signs
    for ``tlsrpt.google.com``), never the other way round."""
    signer = signer.rstrip(".").lower()
    if not signer or "." not in signer:
        return False
    return any(d == signer or d.endswith("." + signer) for d in domains)


# --------------------------------------------------------------------------------------------
# Verification

_ORDER = {"pass": 0, "fail": 1, "temperror": 2, "permerror": 3}


def verify(data: bytes | SignedMail, keys: Mapping[str, KeyRecord],
           header: SignedHeader | None = None) -> DkimVerdict:
    """The verdict for one message given the key records its signatures need.

    With several signatures the best one counts: an aligned pass, else any pass, else a fail
    (something was forged or altered), else temperror, else permerror. A key name absent from
    ``keys`` counts as a failed lookup (temperror): the caller did not manage to fetch it.
    ``data`` may be the message already split by :func:`read` (the sync splits it once);
    ``header``, the bytes' header block already read by :func:`read_header` (a parser process
    read it for the key names).
    """
    if isinstance(data, bytes):
        # Most signatures of an import name a key that is gone: decided without dkimpy.
        try:
            keyless = (header if header is not None else read_header(data)).keyless_verdict(keys)
        except Exception:  # a bug of the shortcut: the full check below decides
            keyless = None
        if keyless is not None:
            return keyless
    mail = read(data) if isinstance(data, bytes) else data
    if mail is None:
        return DkimVerdict("permerror")  # a header dkimpy could not read either
    if not mail.signatures:
        return DkimVerdict("none")
    domains = reporting_domains(mail.headers, mail.names)
    verdicts = [_verify_one(mail, sig, keys, domains) for sig in mail.signatures]
    return min(verdicts, key=lambda v: (_ORDER[v.result], not v.aligned))


_HEADER_LIST = re.compile(rb"\s*:\s*")
_WHITESPACE = re.compile(rb"\s+")


def _verify_one(
    mail: SignedMail, sig: _Sig, keys: Mapping[str, KeyRecord], domains: list[str]
) -> DkimVerdict:
    aligned = is_aligned(sig.domain, domains)

    def verdict(result: str) -> DkimVerdict:
        return DkimVerdict(result, sig.domain or None, sig.selector or None, aligned)

    if not sig.key_name or sig.fields is None:
        return verdict("permerror")
    record = keys.get(sig.key_name)
    if record is not None and record.failure is None and (record.missing or not record.text):
        return verdict("permerror")  # no key: the same whether the fields are valid or not
    dkim = _dkimpy()
    try:  # dkimpy's checks: mandatory tags, base64, i= within d=, t=/x= times, v=1
        dkim.validate_signature_fields(sig.fields)
    except dkim.DKIMException:  # malformed, expired or incomplete signature fields
        return verdict("permerror")
    if record is None or record.failure is not None:
        return verdict("temperror")
    key = _public_key(record.text) if record.text else None
    if key is None:
        return verdict("permerror")
    try:
        return verdict(_check(mail, sig, key))
    except (dkim.DKIMException, ValueError, TypeError, KeyError, binascii.Error):
        return verdict("permerror")


def _check(mail: SignedMail, sig: _Sig, key: _Key) -> str:
    """dkimpy's ``verify_sig_process`` in ``tlsrpt`` mode, the same hashes with less work.

    The body is canonicalized by dkimpy. The header hash is dkimpy's ``hash_headers``, except
    that only the signed fields are canonicalized, the relaxed algorithm runs on bytes methods
    instead of three regular expressions per field, and the signature's own ``b=`` is emptied
    by a linear pattern (dkimpy's backtracks over every base64 character): together that was
    two thirds of the check (tests/test_dkim.py compares both with dkimpy's). The signature
    math is OpenSSL's (``cryptography``), not dkimpy's pure-Python RSA (about 0.4 ms alone).
    As in dkimpy's ``tlsrpt`` mode an ``l=`` body length is ignored: RFC 8460 §3 forbids it,
    so the whole body must match.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    dkim = _dkimpy()
    fields = sig.fields
    assert fields is not None
    algorithm = fields[b"a"]
    if algorithm not in _HASHES or (algorithm.startswith(b"rsa") != (key.kind == "rsa")):
        return "permerror"
    header_canon, body_canon = _canonicalization(fields.get(b"c", b"simple/simple"))
    hasher = dkim.HASH_ALGORITHMS[algorithm]
    expected = base64.b64decode(_WHITESPACE.sub(b"", fields[b"bh"]))
    if hasher(body_canon(mail.body)).digest() != expected:
        return "fail"  # the body changed after signing
    include = [x.lower() for x in _HEADER_LIST.split(fields[b"h"])]
    if b"from" in include:  # dkimpy's guard against a second From header
        include.append(b"from")
    h = hasher()
    for name, value in header_canon(_select(mail.headers, mail.names, include)):
        h.update(name + b":" + value)
    # the signature field itself, b= emptied, hashed without its trailing CRLF
    ((name, value),) = header_canon([(sig.name, without_b(sig.value))])
    h.update(name + b":" + value.rstrip())
    signature = base64.b64decode(_WHITESPACE.sub(b"", fields[b"b"]))
    try:
        if key.kind == "rsa":
            key.key.verify(signature, h.digest(), padding.PKCS1v15(),
                           Prehashed(getattr(hashes, _HASHES[algorithm])()))
        else:
            key.key.verify(signature, h.digest())
    except InvalidSignature:
        return "fail"
    return "pass"


def _select(headers: list[tuple[bytes, bytes]], lower: list[bytes],
            include: list[bytes]) -> list[tuple[bytes, bytes]]:
    """dkimpy's ``select_headers`` (each name in ``h=`` takes the next field of that name from
    the bottom up) with the names lowered once, not once per comparison."""
    last: dict[bytes, int] = {}
    out = []
    for name in include:
        i = last.get(name, len(headers))
        while i > 0:
            i -= 1
            if lower[i] == name:
                out.append(headers[i])
                break
        last[name] = i
    return out


# -- canonicalization (RFC 6376 §3.4), byte for byte what dkimpy computes ---------------------

_BTAG = re.compile(rb"([;\s]b\s*=)([\sa-zA-Z0-9+/=]*)")


def without_b(value: bytes) -> bytes:
    """The signature field's value with its ``b=`` value deleted (RFC 6376 §3.5), as dkimpy's
    ``RE_BTAG.sub(b"\\1", value)``: the base64 and the whitespace inside it go, whitespace
    after its last character stays, except a line end that ends the field."""
    end = len(value)

    def empty(m: re.Match[bytes]) -> bytes:
        run = m.group(2)
        tail = run[len(run.rstrip()):]
        if m.end() == end and tail in (b"\r\n", b"\n"):
            tail = b""
        return m.group(1) + tail

    return _BTAG.sub(empty, value)


_ODD_SPACE = re.compile(rb"[\r\n\x0b\x0c]")


def _relaxed_value(value: bytes) -> bytes:
    """Unfold, compress runs of WSP to one space, strip (dkimpy: three substitutions)."""
    unfolded = value.replace(b"\r\n", b"")
    if _ODD_SPACE.search(unfolded):  # a bare CR or LF, VT, FF: dkimpy's way
        canon = _dkimpy().canonicalization
        return canon.compress_whitespace(canon.unfold_header_value(value)).strip()
    return b" ".join(unfolded.split())


def _relaxed_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n.lower().rstrip(), _relaxed_value(v) + b"\r\n") for n, v in headers]


def _simple_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return headers


def _relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body algorithm; its two substitutions are skipped when they cannot
    change anything (no tab, no double space, no space before a line end: base64 bodies)."""
    canon = _dkimpy().canonicalization
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        return canon.Relaxed.canonicalize_body(body)
    return canon.correct_empty_body(canon.strip_trailing_lines(body))


_HEADER_CANON = {b"relaxed": _relaxed_headers, b"simple": _simple_headers}
def _simple_body(body: bytes) -> bytes:
    return bytes(_dkimpy().canonicalization.Simple.canonicalize_body(body))


_BODY_CANON = {b"relaxed": _relaxed_body, b"simple": _simple_body}


def _canonicalization(c: bytes) -> tuple[Callable[[list[tuple[bytes, bytes]]],
                                                  list[tuple[bytes, bytes]]],
                                         Callable[[bytes], bytes]]:
    """The header and body algorithms a ``c=`` value names (KeyError when unknown)."""
    parts = c.split(b"/")
    if len(parts) not in (1, 2):
        raise ValueError(f"invalid c= value: {c!r}")
    head = parts[0]
    body = parts[1] if len(parts) == 2 else b"simple"
    return _HEADER_CANON[head], _BODY_CANON[body]


@dataclass(frozen=True, slots=True)
class _Key:
    kind: str  # "rsa" | "ed25519"
    key: object  # a cryptography public key


#: The hash (a name in ``cryptography``'s ``hashes``) of each signing algorithm.
_HASHES = {b"rsa-sha256": "SHA256", b"rsa-sha1": "SHA1", b"ed25519-sha256": "SHA256"}


@functools.lru_cache(maxsize=256)
def _public_key(text: bytes) -> _Key | None:
    """A key record checked by dkimpy (version, k=, service type ``*``/``email``/``tlsrpt``)
    and loaded once for OpenSSL; None when it is unusable. Cached: keys repeat per sender."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    dkim = _dkimpy()
    try:
        pk, keysize, ktag, _tlsrpt_service = dkim.evaluate_pk(b"key", text)
    except (dkim.DKIMException, ValueError, TypeError, binascii.Error):
        return None
    if pk is None:  # a key for another service (RFC 6376 §3.6.1): not for this mail
        return None
    tags = dkim.util.parse_tag_value(text)
    raw = base64.b64decode(re.sub(rb"\s+", b"", tags[b"p"]))
    try:
        if ktag == b"rsa":
            if keysize < 1024:  # RFC 8301: shorter RSA keys are not acceptable
                return None
            return _Key("rsa", serialization.load_der_public_key(raw))
        return _Key("ed25519", ed25519.Ed25519PublicKey.from_public_bytes(raw))
    except (ValueError, TypeError):
        return None


# --------------------------------------------------------------------------------------------
# Authentication-Results of a trusted server (RFC 8601)

_COMMENT = re.compile(r"\([^()]*\)")


def authentication_results(data: bytes | SignedMail, authserv_id: str) -> DkimVerdict | None:
    """The DKIM verdict a trusted server wrote in ``Authentication-Results`` at arrival, if any.

    Only headers whose authserv-id is exactly ``authserv_id`` are read (RFC 8601 §2.5, §5):
    a header of any other id, above or below, is some other server's claim, whatever it says.
    Of that server's own headers only the topmost one carrying DKIM results counts: an MTA
    prepends its header, so that one is what it wrote at arrival, while an older header with
    the same id further down came with the mail: a forger's, which RFC 8601 §5 has the border
    MTA delete but not every MTA does. Used when the keys are gone (rotated away) or DNS
    fails now.
    """
    wanted = authserv_id.strip().lower()
    if not wanted:
        return None
    headers = _headers(data) if isinstance(data, bytes) else data.headers
    domains = reporting_domains(headers)
    found: list[DkimVerdict] = []
    for name, value in headers:
        if found:
            break  # the trusted server's own (topmost) DKIM results are read; older ones not
        if name.lower() != b"authentication-results":
            continue
        text = value.decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")
        for _ in range(3):  # nested comments, innermost first
            text = _COMMENT.sub(" ", text)
        parts = [p.strip() for p in text.split(";")]
        if not parts or not parts[0] or parts[0].split()[0].lower() != wanted:
            continue
        for resinfo in parts[1:]:
            tokens = resinfo.split()
            if not tokens or not tokens[0].lower().startswith("dkim="):
                continue
            result = tokens[0].split("=", 1)[1].lower()
            props = dict(t.split("=", 1) for t in tokens[1:] if "=" in t)
            domain = props.get("header.d", "").rstrip(".").lower() or _domain_of(
                props.get("header.i")
            )
            selector = props.get("header.s", "").lower() or None
            if result in ("pass", "fail", "temperror", "permerror", "none"):
                found.append(DkimVerdict(result, domain or None, selector,
                                         is_aligned(domain, domains), authserv_id=wanted))
    if not found:
        return None
    order = {**_ORDER, "none": 4}
    return min(found, key=lambda v: (order[v.result], not v.aligned))
