"""DKIM verdicts for report mail (RFC 8460 §3, RFC 6376), given the key records: no I/O here.

The rua address is public, so anyone can mail a "report". RFC 8460 §3 wants report mail
DKIM-signed by the reporting organization; a forged ``DKIM-Signature: d=google.com`` looks as
good as a real one until the signature is checked against the key in DNS. Verification is
split in two so the event loop never waits on CPU and the CPU part never waits on DNS:

1. :func:`key_names` lists the keys a message needs (``selector._domainkey.domain``);
   the caller fetches them (net/dkim_keys.py, through the configured resolver, cached);
2. :func:`verify` checks the signatures with dkimpy against those records (pure CPU) and
   returns a :class:`~tlsrpt_tui.core.model.DkimVerdict`.

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
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tlsrpt_tui.core.model import DkimVerdict

#: Signatures looked at per message (a message with dozens is hostile, not careful).
MAX_SIGNATURES = 4

_QUIET = logging.getLogger("tlsrpt_tui.dkimpy")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


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


def _headers(data: bytes) -> list[tuple[bytes, bytes]]:
    try:
        return dkim.rfc822_parse(data)[0]
    except Exception:  # dkimpy raises plain errors on odd input: treat as no headers
        return []


_TAG = {tag: re.compile(rb"(?:^|;)\s*" + tag + rb"\s*=\s*([^;]*)") for tag in (b"d", b"s")}


def _tag(value: bytes, tag: bytes) -> bytes | None:
    m = _TAG[tag].search(value)
    return m.group(1) if m else None


def _signatures(headers: list[tuple[bytes, bytes]]) -> list[_Sig]:
    out: list[_Sig] = []
    index = -1
    for name, value in headers:
        if name.lower() != b"dkim-signature":
            continue
        index += 1
        if len(out) >= MAX_SIGNATURES:
            break
        domain = _ascii(_tag(value, b"d")).rstrip(".").lower()
        selector = _ascii(_tag(value, b"s")).lower()
        key = f"{selector}._domainkey.{domain}" if domain and selector else ""
        out.append(_Sig(index, domain, selector, key))
    return out


def _ascii(value: bytes | None) -> str:
    if not value:
        return ""
    text = re.sub(rb"\s+", b"", value).decode("ascii", "replace")
    return "".join(c for c in text if c.isprintable())


#: The end of a message's header block: the first empty line (as dkimpy's rfc822_parse reads).
_HEADER_END = re.compile(rb"\n\r?\n")
#: A DKIM-Signature field with its folded continuation lines (the name as rfc822_parse reads it:
#: no space before the colon).
_DKIM_FIELD = re.compile(rb"^dkim-signature:([^\n]*(?:\n[ \t][^\n]*)*)", re.I | re.M)


def key_names(data: bytes) -> list[str]:
    """The DNS names of the keys this message's DKIM signatures need (may be empty).

    Runs where mail arrives (the event loop's side of a sync or import) for every message, so
    only the DKIM-Signature fields of the header block are read: a real report mail has ~180
    header lines and a body, and splitting them all (dkimpy's parser) cost ~0.3 ms a message.
    """
    if data[:1] == b"\n" or data[:2] == b"\r\n":
        return []  # an empty first line: no header at all
    end = _HEADER_END.search(data)
    head = data if end is None else data[: end.start() + 1]
    fields = [(b"DKIM-Signature", m.group(1)) for m in _DKIM_FIELD.finditer(head)]
    return sorted({s.key_name for s in _signatures(fields) if s.key_name})


# --------------------------------------------------------------------------------------------
# Alignment


_ANGLE = re.compile(r"<([^<>]*)>")


def _domain_of(address: str | None) -> str:
    """The domain of a From-style address (``Name <a@b.example>`` or ``a@b.example``)."""
    if not address:
        return ""
    m = _ANGLE.search(address)
    addr = m.group(1) if m else address
    return addr.rpartition("@")[2].strip().rstrip(".").lower() if "@" in addr else ""


def reporting_domains(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The domains a signer must be (or be a parent of): TLS-Report-Submitter and From."""
    found: list[str] = []
    for name, value in headers:
        lname = name.lower()
        if lname not in (b"tls-report-submitter", b"from"):
            continue
        text = value.decode("utf-8", "replace").strip()
        domain = text.strip().rstrip(".").lower() if lname == b"tls-report-submitter" else (
            _domain_of(text)
        )
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


def verify(data: bytes, keys: Mapping[str, KeyRecord]) -> DkimVerdict:
    """The verdict for one message given the key records its signatures need.

    With several signatures the best one counts: an aligned pass, else any pass, else a fail
    (something was forged or altered), else temperror, else permerror. A key name absent from
    ``keys`` counts as a failed lookup (temperror): the caller did not manage to fetch it.
    """
    signer = dkim.DKIM(data, logger=_QUIET, tlsrpt=True, minkey=1024)
    headers = signer.headers
    sigs = _signatures(headers)
    if not sigs:
        return DkimVerdict("none")
    domains = reporting_domains(headers)
    verdicts = [_verify_one(signer, sig, keys, domains) for sig in sigs]
    return min(verdicts, key=lambda v: (_ORDER[v.result], not v.aligned))


def _verify_one(
    signer: dkim.DKIM, sig: _Sig, keys: Mapping[str, KeyRecord], domains: list[str]
) -> DkimVerdict:
    aligned = is_aligned(sig.domain, domains)

    def verdict(result: str) -> DkimVerdict:
        return DkimVerdict(result, sig.domain or None, sig.selector or None, aligned)

    if not sig.key_name:
        return verdict("permerror")
    try:
        prep = signer.verify_headerprep(sig.index)
    except dkim.DKIMException:  # malformed, expired or incomplete signature fields
        return verdict("permerror")
    if not prep:
        return verdict("permerror")
    fields, include_headers, sig_headers = prep
    record = keys.get(sig.key_name)
    if record is None or record.failure is not None:
        return verdict("temperror")
    if record.missing or not record.text:
        return verdict("permerror")
    key = _public_key(record.text)
    if key is None:
        return verdict("permerror")
    try:
        return verdict(_check(signer, fields, include_headers, sig_headers[sig.index], key))
    except (dkim.DKIMException, ValueError, TypeError, KeyError, binascii.Error):
        return verdict("permerror")


def _check(signer: dkim.DKIM, fields: dict[bytes, bytes], include_headers: list[bytes],
           sig_header: tuple[bytes, bytes], key: _Key) -> str:
    """dkimpy's ``verify_sig_process`` in ``tlsrpt`` mode, with the signature math in OpenSSL.

    dkimpy canonicalizes and hashes (its code); only the last step differs: dkimpy checks RSA
    in pure Python (about 0.4 ms a signature, more than this whole check may cost), the
    ``cryptography`` package does the same check in OpenSSL. As in dkimpy's ``tlsrpt`` mode
    an ``l=`` body length is ignored: RFC 8460 §3 forbids it, so the whole body must match.
    """
    algorithm = fields[b"a"]
    if algorithm not in _HASHES or (algorithm.startswith(b"rsa") != (key.kind == "rsa")):
        return "permerror"
    canon = dkim.CanonicalizationPolicy.from_c_value(fields.get(b"c", b"simple/simple"))
    hasher = dkim.HASH_ALGORITHMS[algorithm]
    body = canon.canonicalize_body(signer.body)
    expected = base64.b64decode(re.sub(rb"\s+", b"", fields[b"bh"]))
    if hasher(body).digest() != expected:
        return "fail"  # the body changed after signing
    if b"from" in include_headers:  # dkimpy's guard against a second From header
        include_headers = [*include_headers, b"from"]
    # Only the signed fields are canonicalized (dkimpy does all of them: same hash, more work).
    signed = set(include_headers)
    h = hasher()
    dkim.hash_headers(
        h, canon, canon.canonicalize_headers([f for f in signer.headers if f[0].lower() in signed]),
        include_headers, sig_header, fields,
    )
    signature = base64.b64decode(re.sub(rb"\s+", b"", fields[b"b"]))
    try:
        if key.kind == "rsa":
            key.key.verify(signature, h.digest(), padding.PKCS1v15(),
                           Prehashed(_HASHES[algorithm]()))
        else:
            key.key.verify(signature, h.digest())
    except InvalidSignature:
        return "fail"
    return "pass"


@dataclass(frozen=True, slots=True)
class _Key:
    kind: str  # "rsa" | "ed25519"
    key: object  # a cryptography public key


_HASHES = {b"rsa-sha256": hashes.SHA256, b"rsa-sha1": hashes.SHA1,
           b"ed25519-sha256": hashes.SHA256}


@functools.lru_cache(maxsize=256)
def _public_key(text: bytes) -> _Key | None:
    """A key record checked by dkimpy (version, k=, service type ``*``/``email``/``tlsrpt``)
    and loaded once for OpenSSL; None when it is unusable. Cached: keys repeat per sender."""
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


def authentication_results(data: bytes, authserv_id: str) -> DkimVerdict | None:
    """The DKIM verdict a trusted server wrote in ``Authentication-Results`` at arrival, if any.

    Only headers whose authserv-id is exactly ``authserv_id`` are read: RFC 8601 §5 has the
    border MTA remove headers carrying its own id from incoming mail, so those (and no others)
    are its own. Used when the keys are gone (rotated away) or DNS fails now.
    """
    wanted = authserv_id.strip().lower()
    if not wanted:
        return None
    headers = _headers(data)
    domains = reporting_domains(headers)
    found: list[DkimVerdict] = []
    for name, value in headers:
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
