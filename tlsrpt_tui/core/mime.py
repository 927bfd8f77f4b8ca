"""A minimal, single-pass MIME reader for report mail.

Why not the stdlib `email` package: with ``policy.default`` it builds header objects, parses
every address and date, and walks the tree several times; that alone costs more than the whole
budget for turning a report mail into `Report` objects (the issue asks for at least 5x the
throughput of parsedmarc). Report mail is simple — a handful of headers we care about, one
multipart/report with a text part and a base64 attachment — so this reader works on bytes:

- line endings are normalised to LF once, with one C-level ``bytes.replace``;
- headers are split and unfolded once; only the few we need are decoded (RFC 2047), From,
  Date and Message-ID only when asked for, a leaf part's Content-Type parameters too;
- multipart bodies are cut at their boundaries with ``bytes.find`` (nested multiparts too);
- leaf bodies stay encoded until the caller asks for `MimePart.payload()`, so the human-readable
  text part of a report mail is never decoded at all.

Pure: no I/O. Errors raise `MimeError` with a one-line reason.
"""

from __future__ import annotations

import binascii
import quopri
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

__all__ = [
    "MailMessage",
    "MimeError",
    "MimePart",
    "decode_rfc2047",
    "looks_like_message",
    "parse_content_type",
    "read_message",
    "subject_report_id",
]


class MimeError(ValueError):
    """The message cannot be read; the text is one line saying why."""


@dataclass(slots=True)
class MimePart:
    """One leaf part, body still in its transfer encoding."""

    content_type: str  # lower-case "type/subtype"
    filename: str | None
    transfer_encoding: str  # lower-case; "7bit" when absent
    #: raw, LF line endings; a view into the message (no copy: an attachment can be 49 MiB)
    body: bytes | memoryview
    index: int  # position among the message's leaf parts (0-based)
    #: The Content-Type header as text, its parameters read on first use of `params`: the
    #: human-readable part of a report mail has three nobody reads (~20,000 instructions).
    raw_content_type: str = ""
    parsed_params: dict[str, str] | None = None

    @property
    def params(self) -> dict[str, str]:
        """The Content-Type parameters ({lower-case name: value}, see parse_content_type)."""
        if self.parsed_params is None:
            self.parsed_params = parse_content_type(self.raw_content_type)[1]
        return self.parsed_params

    @property
    def label(self) -> str:
        """How error lines name this part: its filename, else its type and position."""
        if self.filename:
            return self.filename
        return f"part {self.index + 1} ({self.content_type})"

    def payload(self) -> bytes:
        """The decoded body (base64 / quoted-printable / 7bit / 8bit / binary)."""
        cte = self.transfer_encoding
        if cte == "base64":
            return _b64decode(self.body)
        if cte == "quoted-printable":
            return binascii.a2b_qp(self.body)
        return bytes(self.body)


@dataclass(slots=True)
class MailMessage:
    """The parts of a message a report reader needs; header values are decoded text."""

    subject: str | None = None
    tls_report_domain: str | None = None
    tls_report_submitter: str | None = None
    has_dkim_signature: bool = False
    #: The ``d=`` signing domain of the first DKIM-Signature (not verified: that needs DNS).
    dkim_domain: str | None = None
    content_type: str = "text/plain"
    params: dict[str, str] = field(default_factory=dict)
    parts: list[MimePart] = field(default_factory=list)
    #: The top header fields' raw values, for those a report reader rarely needs: From, Date
    #: and Message-ID are decoded only when asked for (RFC 2047 decoding costs per field).
    headers: dict[bytes, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def from_(self) -> str | None:
        return _header_text(self.headers, b"from")

    @property
    def date(self) -> str | None:
        return _header_text(self.headers, b"date")

    @property
    def message_id(self) -> str | None:
        return _header_text(self.headers, b"message-id")

    @property
    def report_type(self) -> str | None:
        """The top-level ``report-type`` parameter (``tlsrpt``, ``disposition-notification``…)."""
        value = self.params.get("report-type")
        return value.lower() if value else None


# ---------------------------------------------------------------------------------------------
# Headers

# RFC 5322 allows any printable but ':' in a field name; real ones are tokens like these.
_HEADER_START = re.compile(rb"[A-Za-z0-9_.-]+[ \t]*:")


def looks_like_message(data: bytes) -> bool:
    """Cheap sniff: does the input start with an RFC 5322 header line (or an mbox From line)?"""
    head = data[:1000].lstrip(b"\r\n")
    if head.startswith(b"From "):
        return True
    return _HEADER_START.match(head) is not None


#: Header blocks up to this size are read line by line; larger ones (only hostile or broken
#: mail has them) by one regex pass, which needs no object per line (a million folded lines
#: would cost ~40 MB of line objects).
_LINE_LOOP_MAX = 64 * 1024


def _headers(head: bytes, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """Unfolded raw value of the first occurrence of each `wanted` header (lower-case names).

    One pass over the lines: a line starting with white space continues the field before it,
    any other line is ``name[ \\t]*: value``. Why a Python loop: the case-insensitive regex
    for the wanted names (``re.IGNORECASE`` makes sre compare case-folded bytes at every step)
    cost ~2.5x as many instructions on a report mail's headers (callgrind: 66k → 50k for the
    top block, 36k → 21k for the two parts'). Blocks over `_LINE_LOOP_MAX` take that regex
    (`_headers_by_regex`), which gives the same result (tests/test_parse_mime.py checks).
    """
    if len(head) > _LINE_LOOP_MAX:
        return _headers_by_regex(head, wanted)
    out: dict[bytes, bytes] = {}
    pieces: list[bytes] | None = None  # the value being read, when its field is wanted
    name = b""
    for line in head.split(b"\n"):
        if line and (line[0] == 32 or line[0] == 9):  # a continuation line
            if pieces is not None:
                pieces.append(line)
            continue
        if pieces is not None:
            out[name] = b"".join(pieces).strip() if len(pieces) > 1 else pieces[0].strip()
            pieces = None
        key, colon, value = line.partition(b":")
        if colon:
            name = key.rstrip(b" \t").lower()
            if name in wanted and name not in out:
                pieces = [value]
    if pieces is not None:
        out[name] = b"".join(pieces).strip() if len(pieces) > 1 else pieces[0].strip()
    return out


def _header_regex(names: frozenset[bytes]) -> re.Pattern[bytes]:
    """A field of one of ``names`` at a line start, with its value and continuation lines.

    The pattern starts with a line feed (the scan for it is fast) and a look-ahead for the
    names' first letters, so that of a real mail's ~180 header lines only the few that may
    match are tried against every name. The continuation lines are taken possessively
    (``*+``): a plain ``*`` keeps a backtracking frame per line, 800 MB for a header of five
    million folded lines.
    """
    alternatives = b"|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    firsts = b"".join(re.escape(bytes([c])) for c in sorted({n[0] for n in names}))
    return re.compile(
        b"\\n(?=[" + firsts + b"])(" + alternatives + b")[ \\t]*:([^\\n]*(?:\\n[ \\t][^\\n]*)*+)",
        re.IGNORECASE,
    )


_HEADER_PATTERNS: dict[frozenset[bytes], re.Pattern[bytes]] = {}


def _headers_by_regex(head: bytes, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """`_headers` for large blocks: one regex pass finds the wanted names at line starts
    (continuation lines start with white space, so they never match) and takes their values
    with their own continuation lines."""
    pattern = _HEADER_PATTERNS.get(wanted)
    if pattern is None:
        pattern = _HEADER_PATTERNS[wanted] = _header_regex(wanted)
    out: dict[bytes, bytes] = {}
    for name, value in pattern.findall(b"\n" + head):
        name = name.lower()
        if name in out:
            continue
        if b"\n" in value:  # unfold: the line break goes, the white space stays
            value = value.replace(b"\n", b"")
        out[name] = value.strip()
    return out


def _header_text(headers: dict[bytes, bytes], name: bytes) -> str | None:
    raw = headers.get(name)
    if not raw:
        return None
    return decode_rfc2047(_text(raw)) or None


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")


def decode_rfc2047(value: str) -> str:
    """Decode RFC 2047 encoded-words; undecodable words are left as they are."""
    if "=?" not in value:
        return value
    value = _BETWEEN_WORDS.sub(r"\1\2", value)

    def word(m: re.Match[str]) -> str:
        charset, enc, text = m.group(1), m.group(2).upper(), m.group(3)
        charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
        try:
            if enc == "B":
                raw = _b64decode(text.encode("ascii"))
            else:
                raw = quopri.decodestring(text.replace("_", " ").encode("ascii"), header=True)
            return raw.decode(charset, errors="replace")
        except (LookupError, ValueError, MimeError):
            return m.group(0)

    return _ENCODED_WORD.sub(word, value)


# ---------------------------------------------------------------------------------------------
# Content-Type / Content-Disposition parameters

# The quoted string is an unrolled loop: ``"(?:[^"\\]|\\.)*"`` keeps one backtracking frame per
# character, so a 1 MiB quoted boundary cost 200 MB of regex stack.
_PARAM = re.compile(r';\s*([^=\s;]+)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"|[^;\s]*)', re.DOTALL)
_CONTINUATION = re.compile(r"^(.+?)\*(\d+)(\*?)$")


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; a=b; c="d"`` → (lower-case type, {lower-case name: value}).

    Handles quoted strings and RFC 2231 (``name*=utf-8''x``, ``name*0=``, ``name*1*=``).
    """
    main, _, rest = value.partition(";")
    ctype = main.strip().lower()
    if not rest:
        return ctype, {}
    simple = _simple_params(rest)
    if simple is not None:
        return ctype, simple
    return ctype, _regex_params(rest)


def _regex_params(rest: str) -> dict[str, str]:
    """The parameters after a header value's first ``;``, any shape (see parse_content_type)."""
    params: dict[str, str] = {}
    pieces: dict[str, list[tuple[int, str, bool]]] = {}
    for name, raw in _PARAM.findall(";" + rest):  # tuples: no match object per parameter
        name = name.lower()
        if raw[:1] == '"':
            raw = raw[1:-1]
            if "\\" in raw:
                raw = re.sub(r"\\(.)", r"\1", raw)
        if "*" not in name:
            params.setdefault(name, raw)
            continue
        cm = _CONTINUATION.match(name)
        if cm:
            pieces.setdefault(cm.group(1), []).append((int(cm.group(2)), raw, bool(cm.group(3))))
        elif name.endswith("*"):
            params[name[:-1]] = _rfc2231(raw, first=True)
        else:
            params.setdefault(name, raw)
    for name, segs in pieces.items():
        segs.sort()
        text = "".join(
            _rfc2231(raw, first=(i == 0)) if ext else raw for i, (_, raw, ext) in enumerate(segs)
        )
        params.setdefault(name, text)
    return params


def _simple_params(rest: str) -> dict[str, str] | None:
    """The parameters of the common shape (``; a=b; c="d e"``: ASCII, no RFC 2231, no
    escapes, no ``;`` in a quoted value), split with ``str.split``; None for anything else,
    which `parse_content_type` reads with its regex. Why: the regex (and its tuples) cost
    ~20,000 instructions a header, four headers a report mail; this costs about a third.
    Every check below sends to the regex any shape on which the two might differ.
    """
    if "*" in rest or "\\" in rest or not rest.isascii():
        return None
    params: dict[str, str] = {}
    for piece in rest.split(";"):
        name, eq, raw = piece.partition("=")
        if not eq:
            if '"' in piece:
                return None
            continue  # no "=": the regex skips it too
        name = name.strip()
        if not name or " " in name or '"' in name or not name.isprintable():
            return None  # empty, or white space / control bytes inside: the regex decides
        raw = raw.strip()
        if raw[:1] == '"':
            if len(raw) < 2 or raw[-1] != '"' or '"' in raw[1:-1]:
                return None
            raw = raw[1:-1]
        elif '"' in raw or " " in raw or not raw.isprintable():
            return None
        params.setdefault(name.lower(), raw)
    return params


def _rfc2231(raw: str, *, first: bool) -> str:
    charset = "utf-8"
    if first and raw.count("'") >= 2:
        charset, _, raw = raw.split("'", 2)
        charset = charset or "utf-8"
    try:
        return unquote_to_bytes(raw).decode(charset, errors="replace")
    except LookupError:
        return unquote_to_bytes(raw).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# Bodies

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def _b64decode(data: bytes | memoryview) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    # Bad padding is common in hand-made or truncated mail: drop junk, re-pad, try again.
    clean = _B64_JUNK.sub(b"", bytes(data))
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error as e:
        raise MimeError(f"base64 data is corrupt ({e})") from None


def _find_delimiter(buf: bytes, delim: bytes, start: int, lo: int, hi: int) -> int:
    """Index of the next line of ``buf[lo:hi]`` at or after `start` that starts with `delim`
    (a full boundary, not a prefix)."""
    needle = b"\n" + delim
    n = len(delim)
    if (
        start == lo
        and buf.startswith(delim, lo, hi)
        and buf[lo + n : min(lo + n + 1, hi)] in (b"", b"\n", b"-", b" ", b"\t")
    ):
        return lo
    pos = start
    while True:
        i = buf.find(needle, pos, hi)
        if i < 0:
            return -1
        follow = buf[i + 1 + n : min(i + 2 + n, hi)]
        if follow in (b"", b"\n", b"-", b" ", b"\t", b"\r"):
            return i + 1
        pos = i + 1


def _split_multipart(
    buf: bytes, lo: int, hi: int, boundary: str, max_parts: int
) -> list[tuple[int, int]]:
    """The parts of the multipart body ``buf[lo:hi]`` as (start, end) offsets into `buf`.

    Offsets, not slices: copying every part (and again every nested part) made a 48 MiB
    attachment cost four copies of itself, and one per level of nesting.
    """
    delim = b"--" + boundary.encode("utf-8", "replace")
    pos = _find_delimiter(buf, delim, lo, lo, hi)
    if pos < 0:
        raise MimeError(f"multipart boundary {boundary!r} not found")
    parts: list[tuple[int, int]] = []
    n = len(delim)
    while True:
        after = pos + n
        if buf[after : min(after + 2, hi)] == b"--":
            break  # close delimiter
        eol = buf.find(b"\n", after, hi)
        if eol < 0:
            break
        start = eol + 1
        nxt = _find_delimiter(buf, delim, eol, lo, hi)
        if len(parts) >= max_parts:
            raise MimeError(f"more than {max_parts} MIME parts")
        if nxt < 0:  # no close delimiter: take the rest (truncated mail stays readable)
            parts.append((start, hi))
            break
        parts.append((start, max(start, nxt - 1)))
        pos = nxt
    return parts


def _split_head_at(buf: bytes, lo: int, hi: int) -> tuple[bytes, int, int]:
    """The header block of ``buf[lo:hi]`` (LF-normalised), and the body as offsets into `buf`."""
    if lo < hi and buf[lo] == 0x0A:
        return b"", lo + 1, hi
    i = buf.find(b"\n\n", lo, hi)
    if i < 0:
        return buf[lo:hi], hi, hi
    return buf[lo:i], i + 2, hi


_WANTED_TOP = frozenset(
    {
        b"subject",
        b"from",
        b"date",
        b"message-id",
        b"tls-report-domain",
        b"tls-report-submitter",
        b"dkim-signature",
        b"content-type",
        b"content-transfer-encoding",
        b"content-disposition",
    }
)
_WANTED_PART = frozenset({b"content-type", b"content-transfer-encoding", b"content-disposition"})


def _walk(
    entity_head: dict[bytes, bytes],
    buf: bytes,
    lo: int,
    hi: int,
    parts: list[MimePart],
    depth: int,
    max_depth: int,
    default_type: str = "text/plain",
    *,
    max_parts: int = 1000,
    seen: list[int] | None = None,
) -> tuple[str, dict[str, str]]:
    if seen is not None:  # entities in the whole message, empty nested multiparts included
        seen[0] += 1
        if seen[0] > max_parts:
            raise MimeError(f"more than {max_parts} MIME parts")
    raw_ct = entity_head.get(b"content-type")
    ct_text = _text(raw_ct) if raw_ct else ""
    ctype = ct_text.partition(";")[0].strip().lower()  # as parse_content_type has it
    if "/" not in ctype:
        ctype = default_type
    params: dict[str, str] | None = None  # a leaf part's are read when first asked for
    if depth == 0 or ctype.startswith("multipart/"):
        params = parse_content_type(ct_text)[1] if raw_ct else {}
    if ctype.startswith("multipart/"):
        assert params is not None
        boundary = params.get("boundary")
        if not boundary:
            raise MimeError(f"{ctype} without a boundary parameter")
        if depth >= max_depth:
            raise MimeError(f"multipart nested deeper than {max_depth} levels")
        child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        for start, end in _split_multipart(buf, lo, hi, boundary, max_parts):
            head, sub_lo, sub_hi = _split_head_at(buf, start, end)
            _walk(
                _headers(head, _WANTED_PART),
                buf,
                sub_lo,
                sub_hi,
                parts,
                depth + 1,
                max_depth,
                child_default,
                max_parts=max_parts,
                seen=seen,
            )
        return ctype, params
    raw_cte = entity_head.get(b"content-transfer-encoding")
    cte = _text(raw_cte).strip().lower() if raw_cte else "7bit"
    filename = None
    disp = entity_head.get(b"content-disposition")
    if disp:
        filename = parse_content_type(_text(disp))[1].get("filename")
    if filename is None and params is None and "name" in ct_text.lower():
        params = parse_content_type(ct_text)[1]
    if filename is None and params is not None:
        filename = params.get("name")
    if filename is not None:
        filename = decode_rfc2047(filename) or None
    body = memoryview(buf)[lo:hi]
    parts.append(MimePart(ctype, filename, cte, body, len(parts), ct_text, params))
    return ctype, params if params is not None else {}


def read_message(data: bytes, max_depth: int = 20, max_parts: int = 1000) -> MailMessage:
    """Parse one RFC 5322 message (CRLF or LF) into headers and leaf parts, in one pass.

    ``max_parts`` bounds the MIME entities of the message: a 50 MB mail of 100k empty parts
    would otherwise cost seconds and hundreds of MB of part objects.
    """
    if b"\r" in data:  # a one-byte test is a memchr; a two-byte search is 10x slower
        data = data.replace(b"\r\n", b"\n")
    data = data.lstrip(b"\n")
    lo = 0
    if data.startswith(b"From "):  # a single mbox entry: skip the envelope line
        nl = data.find(b"\n")
        lo = nl + 1 if nl >= 0 else len(data)
    head, body_lo, body_hi = _split_head_at(data, lo, len(data))
    if not _HEADER_START.match(head):
        raise MimeError("no header block")
    headers = _headers(head, _WANTED_TOP)
    dkim = headers.get(b"dkim-signature")
    msg = MailMessage(
        subject=_header_text(headers, b"subject"),
        tls_report_domain=_header_text(headers, b"tls-report-domain"),
        tls_report_submitter=_header_text(headers, b"tls-report-submitter"),
        has_dkim_signature=dkim is not None,
        dkim_domain=_dkim_domain(dkim) if dkim else None,
        headers=headers,
    )
    msg.content_type, msg.params = _walk(
        headers, data, body_lo, body_hi, msg.parts, 0, max_depth, max_parts=max_parts, seen=[0]
    )
    return msg


# Searched in ";" + value: the pattern then starts with a literal, which sre scans for fast
# (``(?:^|;)`` tried the whole pattern at every position of a 500-byte signature).
_DKIM_D = re.compile(r";\s*d\s*=\s*([^;\s]+)")


def _dkim_domain(value: bytes) -> str | None:
    m = _DKIM_D.search(";" + _text(value))
    return m.group(1).strip().rstrip(".").lower() if m else None


_SUBJECT_ID = re.compile(r"Report-ID:\s*<\s*([^>]*?)\s*>|Report-ID:\s*(\S+)", re.IGNORECASE)


def subject_report_id(subject: str | None) -> str | None:
    """The ``Report-ID: <id>`` (or bare ``Report-ID: id``) of a report mail's Subject."""
    if not subject:
        return None
    if subject.isascii():
        return _ascii_subject_report_id(subject)
    m = _SUBJECT_ID.search(subject)
    if m is None:
        return None
    return (m.group(1) if m.group(1) is not None else m.group(2)) or None


def _ascii_subject_report_id(subject: str) -> str | None:
    """`_SUBJECT_ID`'s answer for an ASCII Subject, by str methods: the case-insensitive
    search with its lazy ``([^>]*?)\\s*>`` cost ~24,000 instructions a report mail. ASCII only:
    there ``lower()`` keeps offsets, ``re.IGNORECASE`` folds no other character onto these
    letters, and ``strip``/``split`` cut at the same white space as ``\\s``/``\\S``."""
    i = subject.lower().find("report-id:")
    if i < 0:
        return None
    rest = subject[i + 10 :].lstrip()
    if rest[:1] == "<":
        gt = rest.find(">")
        if gt >= 0:
            return rest[1:gt].strip() or None
    # ``\\S+`` after the colon; none means no match here, nor later (only white space follows)
    words = rest.split(None, 1)
    return words[0] if words else None
