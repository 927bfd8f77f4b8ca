"""Any input's bytes → `ParsedInput`: the one entry point of the report parser.

The input may be a mail message (RFC 5322), a gzip or zip file, plain JSON, or base64 text of
any of those; `parse_bytes` sniffs which, unwraps layer by layer under `Limits`, and never
raises on bad input: it returns REJECTED with a one-line "which part: why", NOT_REPORT for
mail that is not TLS-RPT (DMARC, ordinary mail), or REPORT with the reports found.

Why limits everywhere: inputs come from the Internet (any sender can mail the rua address), so
a gzip bomb, a zip with thousands of members, or JSON nested a million levels deep must cost a
bounded amount of memory and time. Decompression is checked on the actual output stream (zlib
``max_length``, chunked zip reads), never on sizes claimed in headers. Pure: no I/O (zip member
names are only used as labels, never as paths).
"""

from __future__ import annotations

import binascii
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tlsrpt_tui.core.mime import (
    MailMessage,
    MimeError,
    MimePart,
    looks_like_message,
    read_message,
    subject_report_id,
)
from tlsrpt_tui.core.model import InputStatus, ParsedInput, Report
from tlsrpt_tui.core.report_json import (
    Envelope,
    ReportError,
    load_json,
    looks_like_tlsrpt,
    report_from_json,
    typed_report,
    with_notes,
)

__all__ = ["DEFAULT_LIMITS", "Limits", "parse_bytes", "sniff"]

MiB = 1024 * 1024
NOT_A_REPORT = "not a TLS-RPT report"


@dataclass(frozen=True)
class Limits:
    """Resource bounds for one input. Defaults are far above any real report."""

    #: Decompressed size of one report (one JSON document).
    max_report_bytes: int = 20 * MiB
    #: Members of one zip archive.
    max_zip_members: int = 100
    #: Size of one input as received (a mail message, a file, an mbox entry).
    max_message_bytes: int = 50 * MiB
    #: JSON nesting depth (a report needs 5).
    max_json_depth: int = 64
    #: Layers of wrapping (base64 → gzip → zip → …) around a report.
    max_nesting: int = 4
    #: Depth of nested multiparts in one mail.
    max_mime_depth: int = 20
    #: MIME entities (parts, nested multiparts included) in one mail.
    max_mime_parts: int = 1000
    #: Bytes inflated from gzip and zip for one input, all layers and members together: a
    #: zip of 100 zips of 100 members of 20 MiB of zeros must not cost 200 GB of inflating.
    max_inflated_bytes: int = 100 * MiB
    #: Concatenated members of one gzip stream: zlib copies the rest of the input after each
    #: member, so 2 million empty members in 40 MiB would cost quadratic time (a hang).
    max_gzip_members: int = 100


DEFAULT_LIMITS = Limits()


class _Reject(Exception):
    """Internal: one-line reason for rejecting a part (becomes ParsedInput.error)."""


class _NotReport(Exception):
    """Internal: the data is readable but is not a TLS-RPT report (XML = DMARC, …)."""


def _size(n: int) -> str:
    if n % MiB == 0:
        return f"{n // MiB} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


# ---------------------------------------------------------------------------------------------
# Sniffing

_WS = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
# A search for the first byte outside the alphabet allocates nothing; ``translate(None, …)``
# allocates a buffer the size of the input first (36 MiB more for a 36 MiB payload).
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/= \t\r\n]")


def _ws_count(data: bytes) -> int:
    return sum(data.count(c) for c in (b" ", b"\t", b"\r", b"\n"))


def sniff(data: bytes) -> str:
    """What the bytes are: "json", "gzip", "zip", "xml", "mail", "base64" or "unknown"."""
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    head = data[:64]
    if head.startswith(_BOM):
        head = head[3:]
    head = head.lstrip(_WS)
    if head[:1] == b"{" or head[:1] == b"[":
        return "json"
    if head[:1] == b"<":
        return "xml"
    if looks_like_message(data):
        return "mail"
    if head and _NOT_B64.search(data) is None and len(data) - _ws_count(data) >= 8:
        return "base64"
    return "unknown"


# ---------------------------------------------------------------------------------------------
# Layers


def _inflated(found: _Found, limits: Limits, n: int) -> None:
    """Count `n` more inflated bytes against the input's total inflation budget."""
    found.inflated += n
    if found.inflated > limits.max_inflated_bytes:
        raise _Reject(
            f"decompressed data of this input exceeds {_size(limits.max_inflated_bytes)} in total"
        )


def _gunzip(data: bytes, limits: Limits, found: _Found) -> bytes:
    """Inflate gzip without ever producing more than the report limit (+1 byte to detect it).

    The input is fed to zlib in windows of at most 1 MiB: zlib copies the input left over
    after a member into ``unused_data``, so feeding it whole would make a stream of many
    concatenated members cost quadratic time.
    """
    limit = limits.max_report_bytes
    if len(data) <= _GZIP_ONE_CALL:
        # The common shape (one member, the whole input, within the limits) in one call; the
        # loop below costs ~25,000 instructions more for a report's few hundred bytes of gzip.
        # Anything else (an error, a limit, a second member) is redone by the loop below, so
        # every odd shape gets the loop's answer.
        room = min(limit, limits.max_inflated_bytes - found.inflated) + 1
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            whole = d.decompress(data, max(room, 1))
        except zlib.error:
            whole = None
        if (
            whole is not None
            and d.eof
            and len(whole) <= limit
            and found.inflated + len(whole) <= limits.max_inflated_bytes
            and d.unused_data[:2] != b"\x1f\x8b"
        ):
            found.inflated += len(whole)
            return whole
    out = bytearray()
    view = memoryview(data)
    pos = 0
    members = 0
    while True:
        members += 1
        if members > limits.max_gzip_members:
            raise _Reject(f"gzip stream has more than {limits.max_gzip_members} members")
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while not d.eof:
            piece = view[pos : pos + _GZIP_WINDOW]
            if not piece:
                raise _Reject("gzip data truncated")
            room = min(limit, limits.max_inflated_bytes - found.inflated) + 1 - len(out)
            try:
                chunk = d.decompress(piece, max(room, 1))
            except zlib.error as e:
                raise _Reject(f"gzip data corrupt ({e})") from None
            out += chunk
            if len(out) > limit:
                raise _Reject(f"decompressed size exceeds {_size(limit)} limit")
            _inflated(found, limits, len(chunk))
            if d.unconsumed_tail:  # stopped by max_length exactly at the limit
                raise _Reject(f"decompressed size exceeds {_size(limit)} limit")
            pos += len(piece) - len(d.unused_data)
        # Concatenated gzip members are one stream (RFC 1952 §2.2); anything else after a
        # complete member (zero padding, trailing garbage) ends it.
        if data[pos : pos + 2] != b"\x1f\x8b":
            return bytes(out)


_GZIP_WINDOW = 1 * MiB
#: Inputs up to this size try the one-call inflate first (at most one window: see above).
_GZIP_ONE_CALL = _GZIP_WINDOW


def _unzip(data: bytes, limits: Limits, found: _Found) -> Iterator[tuple[str, bytes | str]]:
    """Members of a zip as (name, bytes) or (name, error); member names are labels only.

    Members are inflated one at a time as the caller asks for them, so a zip of 100 members
    of 19 MiB each never holds more than one of them in memory.
    """
    # Every central-directory entry starts with this signature; counting them first keeps
    # zipfile from building a ZipInfo per entry (~600 bytes each) for a zip of 500k members.
    # (Directories do not count against the limit below, hence the generous margin here.)
    entries = data.count(b"PK\x01\x02")
    if entries > 10 * limits.max_zip_members:
        raise _Reject(f"zip has {entries} members, over the {limits.max_zip_members} limit")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
        raise _Reject(f"zip archive corrupt ({e})") from None
    # Not ZipInfo.is_dir(): it indexes the name's last character and so raises on a member
    # whose name is empty, which a hostile central directory can declare.
    infos = [i for i in zf.infolist() if not i.filename.endswith("/")]
    if len(infos) > limits.max_zip_members:
        raise _Reject(f"zip has {len(infos)} members, over the {limits.max_zip_members} limit")
    if not infos:
        raise _Reject("zip archive is empty")
    return _zip_members(zf, infos, limits, found)


def _zip_members(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits, found: _Found
) -> Iterator[tuple[str, bytes | str]]:
    limit = limits.max_report_bytes
    for info in infos:
        name = info.filename or "(unnamed)"
        if info.flag_bits & 0x1:
            yield name, "encrypted zip member (needs a password)"
            continue
        try:
            with zf.open(info) as fh:
                buf = bytearray()
                while True:
                    chunk = fh.read(min(1 * MiB, limit + 1 - len(buf)))
                    if not chunk:
                        break
                    buf += chunk
                    if len(buf) > limit:
                        raise _Reject(f"decompressed size exceeds {_size(limit)} limit")
                    _inflated(found, limits, len(chunk))
        except _Reject as e:
            if found.inflated > limits.max_inflated_bytes:
                raise  # the whole input is over budget: no point in trying further members
            yield name, str(e)
            continue
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
            yield name, f"zip member corrupt ({e})"
            continue
        except NotImplementedError as e:
            yield name, f"unsupported zip compression ({e})"
            continue
        except RuntimeError as e:  # encrypted members
            yield name, f"cannot read zip member ({e})"
            continue
        yield name, bytes(buf)
        del buf


def _b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error as e:
        raise _Reject(f"base64 data corrupt ({e})") from None


# How sure we are that a JSON payload is meant to be a TLS-RPT report, which decides whether
# a JSON document of another shape is "not a report" or a broken report (rejected with a path).
LABELLED = "labelled"  # an application/tlsrpt+* attachment: always validated
ANY_KEY = "any-key"  # a file, or an attachment of a TLS-RPT mail: validated if any key fits
SNIFFED = "sniffed"  # an attachment of unlabelled mail: only a full TLS-RPT shape counts

_REPORT_KEYS = ("organization-name", "date-range", "report-id", "policies")


@dataclass(slots=True)
class _Found:
    reports: list[Report]
    part_errors: list[str]
    mode: str = ANY_KEY
    #: JSON bytes decoded so far for this input: all reports of one input share
    #: max_report_bytes, so 100 zip members of 19 MiB each cannot add up to 2 GB of objects.
    json_bytes: int = 0
    #: Bytes inflated so far for this input (gzip and zip, every layer): see max_inflated_bytes.
    inflated: int = 0
    #: With a list: the JSON bytes each report was decoded from, in step with `reports`
    #: (received_json; ingest never keeps them).
    raw: list[bytes] | None = None


def _array_reports(items: list[Any], env: Envelope | None, found: _Found, label: str) -> None:
    """A JSON array of reports, as some exporters write them: each element is a report; a bad
    one goes to found.part_errors (named by its index) while the others still count."""
    if not any(looks_like_tlsrpt(item) for item in items):
        raise _NotReport(NOT_A_REPORT)
    errors = []
    before = len(found.reports)
    for i, item in enumerate(items):
        try:
            found.reports.append(report_from_json(item, env))
        except ReportError as e:
            errors.append(f"{label}[{i}]: {e}")
    if len(found.reports) == before:
        raise _Reject(f"no element of the JSON array is a readable report: {errors[0]}")
    found.part_errors.extend(errors)


def _payload_reports(
    data: bytes, limits: Limits, env: Envelope | None, depth: int, found: _Found, label: str
) -> None:
    """Unwrap `data` (gzip / zip / base64 / JSON) and add its report(s) to `found`.

    Raises _Reject / _NotReport for the payload as a whole; a bad zip member goes to
    found.part_errors (prefixed with `label`) while its siblings still parse.
    """
    kind = sniff(data)
    if kind == "json":
        before = len(found.reports)
        _json_reports(data, limits, env, found, label)
        if found.raw is not None:  # an array's reports all show the array they came in
            found.raw.extend([data] * (len(found.reports) - before))
        return
    if kind == "xml":
        raise _NotReport(NOT_A_REPORT)
    if kind in ("gzip", "zip", "base64"):
        if depth >= limits.max_nesting:
            raise _Reject(f"wrapped more than {limits.max_nesting} levels deep")
        if kind == "gzip":
            _payload_reports(_gunzip(data, limits, found), limits, env, depth + 1, found, label)
        elif kind == "base64":
            _payload_reports(_b64(data), limits, env, depth + 1, found, label)
        else:
            _zip_reports(data, limits, env, depth, found, label)
        return
    if kind == "mail":
        raise _Reject("a mail message where a report was expected")
    raise _Reject("not JSON, gzip or zip data")


def _json_reports(
    data: bytes, limits: Limits, env: Envelope | None, found: _Found, label: str
) -> None:
    """The report(s) of one JSON document (an object, or an array of them) into `found`."""
    found.json_bytes += len(data)
    if found.json_bytes > limits.max_report_bytes:
        if len(data) > limits.max_report_bytes:
            raise _Reject(f"report size exceeds {_size(limits.max_report_bytes)} limit")
        raise _Reject(f"reports of this input exceed {_size(limits.max_report_bytes)} in total")
    try:
        # A plainly well-formed report takes the typed fast path whatever the mode;
        # anything else is decoded untyped to tell "not a report" from a broken one.
        report = typed_report(data, env, limits.max_json_depth)
        if report is None:
            obj = load_json(data, limits.max_json_depth)
            if isinstance(obj, list):
                _array_reports(obj, env, found, label)
                return
            if found.mode != LABELLED and not looks_like_tlsrpt(obj):
                if found.mode == SNIFFED or not isinstance(obj, dict):
                    raise _NotReport(NOT_A_REPORT)
                if not any(k in obj for k in _REPORT_KEYS):
                    raise _NotReport(NOT_A_REPORT)
            report = report_from_json(obj, env)
        found.reports.append(report)
    except ReportError as e:
        raise _Reject(str(e)) from None


def _zip_reports(
    data: bytes, limits: Limits, env: Envelope | None, depth: int, found: _Found, label: str
) -> None:
    members = _unzip(data, limits, found)
    before = len(found.reports)
    errors: list[str] = []
    not_report = 0
    for name, content in members:
        where = f"{label}member {name}"
        if isinstance(content, str):
            errors.append(f"{where}: {content}")
            continue
        try:
            _payload_reports(content, limits, env, depth + 1, found, f"{where}: ")
        except _NotReport:
            not_report += 1
        except _Reject as e:
            errors.append(f"{where}: {e}")
    if len(found.reports) == before:
        if not_report and not errors:
            raise _NotReport(NOT_A_REPORT)
        if len(errors) == 1:
            raise _Reject(errors[0][len(label) :])
        raise _Reject(f"no member of the zip holds a readable report ({'; '.join(errors)})")
    found.part_errors.extend(errors)


# ---------------------------------------------------------------------------------------------
# Mail

_TLSRPT_TYPES = ("application/tlsrpt+gzip", "application/tlsrpt+json")
# Types that carry the human-readable part or other mail furniture, never the report.
_SKIP_TYPES = ("text/html", "message/delivery-status", "message/disposition-notification")
_DMARC_TYPES = ("text/xml", "application/xml")


def _is_tlsrpt_mail(msg: MailMessage) -> bool:
    if msg.report_type == "tlsrpt" or msg.tls_report_domain:
        return True
    return any(p.content_type in _TLSRPT_TYPES for p in msg.parts)


def _candidate(part: MimePart, sure: bool) -> bool:
    """Could this leaf hold a report? Labelled parts always; others by a cheap sniff."""
    if part.content_type in _TLSRPT_TYPES:
        return True
    if part.content_type in _SKIP_TYPES or part.content_type in _DMARC_TYPES:
        return False
    if part.content_type.startswith("text/") and part.filename is None and sure:
        # The human-readable text of a report mail.
        return False
    return part.content_type.startswith(("application/", "text/"))


def _mail_reports(
    data: bytes, limits: Limits, raw: list[bytes] | None = None
) -> tuple[list[Report], list[str]]:
    found = _Found([], [], raw=raw)
    sure, errors = _mail_into(data, limits, found, 0)
    if found.reports:
        return found.reports, errors + found.part_errors
    if not sure:
        raise _NotReport(NOT_A_REPORT)
    if errors:
        raise _Reject(errors[0] if len(errors) == 1 else "; ".join(errors))
    raise _Reject("mail: TLS-RPT mail without a report attachment")


def _mail_into(data: bytes, limits: Limits, found: _Found, depth: int) -> tuple[bool, list[str]]:
    """Add the reports of one message (and of messages attached to it) to `found`.

    Returns whether the message is a TLS-RPT message, and the errors of its report parts.
    A forwarded report (``message/rfc822`` attachment) is read as a message of its own, with
    its own TLS-Report-* headers and Subject, within the wrapping limit.
    """
    try:
        msg = read_message(data, limits.max_mime_depth, limits.max_mime_parts)
    except MimeError as e:
        raise _Reject(f"mail: {e}") from None
    sure = _is_tlsrpt_mail(msg)
    env = Envelope(
        subject_report_id=subject_report_id(msg.subject),
        report_domain=(msg.tls_report_domain or "").strip().lower() or None,
        submitter=(msg.tls_report_submitter or "").strip() or None,
    )
    errors: list[str] = []
    for part in msg.parts:
        is_message = part.content_type == "message/rfc822"
        if not is_message and not _candidate(part, sure):
            continue
        label = f"attachment {part.label}"
        try:
            payload = part.payload()
        except MimeError as e:
            if sure:
                errors.append(f"{label}: {e}")
            continue
        before = len(found.reports)
        if is_message:
            if depth >= limits.max_nesting:
                # Unread, it might hold a report: say so rather than call the mail ordinary.
                errors.append(f"{label}: messages attached more than {limits.max_nesting} deep")
                sure = True
                continue
            try:
                inner_sure, inner_errors = _mail_into(payload, limits, found, depth + 1)
            except _Reject as e:
                if sure:
                    errors.append(f"{label}: {e}")
                continue
            errors.extend(f"{label}: {e}" for e in inner_errors)
            sure = sure or inner_sure or len(found.reports) > before
            continue
        # Unlabelled mail: only bytes that sniff as a report container are worth a look,
        # and only a decoded TLS-RPT JSON makes the message a report.
        if not sure and sniff(payload) not in ("json", "gzip", "zip"):
            continue
        if part.content_type in _TLSRPT_TYPES:
            found.mode = LABELLED
        else:
            found.mode = ANY_KEY if sure else SNIFFED
        try:
            _payload_reports(payload, limits, env, 0, found, f"{label}: ")
            _add_envelope_notes(msg, found.reports, before)
        except _NotReport:
            continue
        except _Reject as e:
            if sure:
                errors.append(f"{label}: {e}")
            continue
        if not sure and len(found.reports) > before:
            sure = True
    return sure, errors


def _add_envelope_notes(msg: MailMessage, reports: list[Report], first: int) -> None:
    """Note what a reader should doubt about the mail that carried reports[first:].

    RFC 8460 §3 wants reports DKIM-signed by the submitter and §5.3 the TLS-Report-* headers;
    a receiver may treat reports that miss them as unverified. Signatures are not verified
    here (that needs DNS), so only absence and a signer unrelated to the submitter are noted.
    """
    for i in range(first, len(reports)):
        notes = envelope_notes(msg, reports[i])
        if notes:
            reports[i] = with_notes(reports[i], notes)


def envelope_notes(msg: MailMessage, report: Report) -> list[str]:
    notes: list[str] = []
    submitter = (msg.tls_report_submitter or "").strip().rstrip(".").lower()
    if msg.dkim_domain is None:
        notes.append("mail is not DKIM-signed: treat the report as unverified (RFC 8460 §3)")
    elif submitter and not _same_organisation(msg.dkim_domain, submitter):
        notes.append(
            f"DKIM signer d={msg.dkim_domain} is not the submitter {submitter}: "
            "treat the report as unverified (RFC 8460 §3)"
        )
    if not msg.tls_report_submitter:
        notes.append("TLS-Report-Submitter header missing (RFC 8460 §5.3)")
    domain = (msg.tls_report_domain or "").strip().rstrip(".").lower()
    if not domain:
        notes.append("TLS-Report-Domain header missing (RFC 8460 §5.3)")
    elif not any(p.policy_domain == domain for p in report.policies):  # else: named as is
        policy_domains = {p.policy_domain.rstrip(".").lower() for p in report.policies}
        if policy_domains and domain not in policy_domains:
            notes.append(f"TLS-Report-Domain {domain} names none of the report's policy domains")
    return notes


def _same_organisation(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_bytes(data: bytes, source: str, limits: Limits = DEFAULT_LIMITS) -> ParsedInput:
    """Turn one input's bytes into a ParsedInput. Never raises on bad input."""
    try:
        return _parse(data, source, limits)
    except MemoryError:
        return ParsedInput(source, InputStatus.REJECTED, error="out of memory while parsing")
    except Exception as e:  # a parser bug must not stop an import of thousands of mails
        return ParsedInput(
            source,
            InputStatus.REJECTED,
            error=f"internal parser error: {type(e).__name__}: {_one_line(str(e))}",
        )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")  # C0, DEL and C1 (8-bit CSI is \x9b)


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def received_json(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[tuple[Report, bytes]]:
    """Each report of an input with the JSON bytes it was decoded from, as the sender wrote
    them (the TUI's raw view: a sender's quirks are what one opens it to see). A report that
    came in a JSON array carries the whole array. Empty when the input holds no report."""
    raw: list[bytes] = []
    parsed = _parse(data, "", limits, raw)
    return list(zip(parsed.reports, raw, strict=True))


def _parse(
    data: bytes, source: str, limits: Limits, raw: list[bytes] | None = None
) -> ParsedInput:
    if len(data) > limits.max_message_bytes:
        return ParsedInput(
            source,
            InputStatus.REJECTED,
            error=f"input size {len(data)} bytes exceeds {_size(limits.max_message_bytes)} limit",
        )
    if not data.strip(_WS + _BOM):
        return ParsedInput(source, InputStatus.REJECTED, error="input is empty")
    try:
        kind = sniff(data)
        layers = 0
        while kind == "base64":  # base64 text of any input, even of a whole mail message
            if layers >= limits.max_nesting:
                raise _Reject(f"wrapped more than {limits.max_nesting} levels deep")
            data = _b64(data)
            kind = sniff(data)
            layers += 1
        found = _Found([], [], raw=raw)
        if kind == "gzip":  # report.json.gz, or a whole mail saved compressed (.eml.gz)
            data = _gunzip(data, limits, found)
            kind = "mail" if sniff(data) == "mail" else "gunzipped"
            layers += 1
        if kind == "mail":
            reports, part_errors = _mail_reports(data, limits, raw)
        elif kind == "unknown":
            if layers:
                raise _Reject("base64 text that decodes to no mail message, JSON, gzip or zip")
            raise _Reject("not a mail message, JSON, gzip, zip or base64 data")
        else:
            _payload_reports(data, limits, None, layers, found, "")
            reports, part_errors = found.reports, found.part_errors
    except _NotReport as e:
        return ParsedInput(source, InputStatus.NOT_REPORT, error=str(e))
    except _Reject as e:
        return ParsedInput(source, InputStatus.REJECTED, error=_one_line(str(e)))
    return ParsedInput(
        source,
        InputStatus.REPORT,
        reports=tuple(reports),
        part_errors=tuple(_one_line(e) for e in part_errors),
    )
