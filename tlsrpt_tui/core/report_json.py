"""TLS-RPT JSON (RFC 8460 §4.4) → `Report`, with every quirk real senders are known for.

Why a hand-written validator instead of a schema library: each rejection must name the exact
JSON path and the offending value in one line ("policies[0].summary.total-failure-session-count:
expected a non-negative integer, got \"x\""), and each known quirk (Microsoft's JSON array inside
a policy-string, dates without ``Z``, ``mx-host`` as a string, …) must be normalised here, once,
so no layer downstream ever sees it. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from tlsrpt_tui.core.model import FailureDetail, Policy, PolicyType, Report

__all__ = [
    "Envelope",
    "ReportError",
    "check_json_depth",
    "decode_filetime_report_id",
    "load_json",
    "looks_like_tlsrpt",
    "parse_datetime",
    "report_from_bytes",
    "report_from_json",
    "typed_report",
]


class ReportError(ValueError):
    """Bad report input; the message is one line: "which part: why"."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the carrying mail said about the report (all optional; the JSON wins on conflicts)."""

    subject_report_id: str | None = None
    report_domain: str | None = None  # TLS-Report-Domain header
    submitter: str | None = None  # TLS-Report-Submitter header


_NO_ENVELOPE = Envelope()

# ---------------------------------------------------------------------------------------------
# JSON loading with a depth limit


# translate() tables: keep only quotes and brackets, and map both opening brackets to "(" and
# both closing ones to ")" so nesting can be measured with C-speed bytes.replace passes.
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'"[]{}')
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"(())")
_NOT_OPENING = bytes(b for b in range(256) if b not in b"[{")


def check_json_depth(data: bytes, max_depth: int) -> None:
    """Refuse JSON nested deeper than `max_depth` BEFORE a JSON decoder sees it.

    A decoder recursing into ``[[[[…`` fails late and expensively (RecursionError from the
    stdlib's C scanner); measuring first is cheap. When the document holds no more brackets than
    the limit (every real report under the default), there is nothing more to scan. Otherwise the
    structure is reduced to its brackets outside strings (escapes dropped, string contents cut
    out between quote pairs) and each ``bytes.replace(b"()", b"")`` pass peels one level, all
    in C: a Python loop over the bytes would cost more than decoding the JSON.
    """
    if len(data.translate(None, _NOT_OPENING)) <= max_depth:  # one pass, not two counts
        return
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    shape = data.translate(_OPEN_CLOSE, _NOT_STRUCTURAL).replace(b'""', b"")
    if b'"' in shape:  # brackets inside strings: drop every string's content
        shape = b"".join(shape.split(b'"')[::2])
    depth = 0
    while shape:
        peeled = shape.replace(b"()", b"")
        if len(peeled) == len(shape):
            # Unbalanced, so not JSON; but brackets never closed still nest (``[[[[…`` cut
            # short): too many of those is "too deep", anything else a syntax error for later.
            if depth + shape.count(b"(") > max_depth:
                break
            return
        depth += 1
        if depth > max_depth:
            break
        shape = peeled
    else:
        return
    raise ReportError(f"JSON nested deeper than {max_depth} levels")


_JSON_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


def _decode_untyped(data: bytes | str) -> Any:
    """JSON → Python objects; msgspec, 3x faster than the stdlib's json on reports."""
    return msgspec.json.decode(data)


def load_json(data: bytes, max_depth: int = 64) -> Any:
    """Decode UTF-8 JSON bytes (BOM and surrounding whitespace allowed) under a depth limit."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    check_json_depth(data, max_depth)
    try:
        return _decode_untyped(data)
    except UnicodeDecodeError as e:
        raise ReportError(f"invalid JSON: not UTF-8 (byte {e.start})") from None
    except RecursionError:
        raise ReportError(f"JSON nested deeper than {max_depth} levels") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ReportError(f"invalid JSON: {_one_line(str(e))}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def looks_like_tlsrpt(obj: Any) -> bool:
    """True for a dict shaped like a TLS-RPT report (used to recognise unlabelled attachments)."""
    return (
        isinstance(obj, dict)
        and "policies" in obj
        and "date-range" in obj
        and "organization-name" in obj
    )


# ---------------------------------------------------------------------------------------------
# Field helpers: each names the JSON path in its error


def _show(value: Any) -> str:
    """A short JSON rendering of a bad value for an error line (never multi-line)."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {_show(value)}"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"{path}: expected an object, got {_type_name(value)}")
    return value


def _required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise ReportError(f"{path}: missing")
    return obj[key]


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ReportError(f"{path}: expected a string, got {_type_name(value)}")
    return value


def _opt_str(value: Any, path: str) -> str | None:
    """Optional text field: absent, null and "" all mean "not given"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportError(f"{path}: expected a string, got {_type_name(value)}")
    return value or None


#: Counts must fit the store's 64-bit integers.
MAX_COUNT = 2**63 - 1


def _count(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportError(f"{path}: expected a non-negative integer, got {_show(value)}")
    if value > MAX_COUNT:
        raise ReportError(f"{path}: count {value} is too large")
    return value


def parse_datetime(value: Any, path: str) -> datetime:
    """RFC 3339 → aware UTC datetime; a datetime without offset is UTC (Microsoft, 2023)."""
    if type(value) is not str:
        value = _str(value, path)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        try:
            dt = datetime.fromisoformat(value.strip().upper())
        except ValueError:
            raise ReportError(
                f"{path}: expected an RFC 3339 date-time, got {_show(value)}"
            ) from None
    tz = dt.tzinfo
    if tz is UTC:
        return dt
    if tz is None:
        return dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last datetime in UTC
        raise ReportError(f"{path}: date-time {_show(value)} is out of range") from None


# ---------------------------------------------------------------------------------------------
# Microsoft FILETIME report-ids

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
# Plausible report times as FILETIME ticks: 2015 (RFC 8460 is from 2018; leave slack) to 2100.
_TICKS_PER_SECOND = 10_000_000
_PLAUSIBLE_FROM = int((datetime(2015, 1, 1, tzinfo=UTC) - _FILETIME_EPOCH).total_seconds())
_PLAUSIBLE_TO = int((datetime(2100, 1, 1, tzinfo=UTC) - _FILETIME_EPOCH).total_seconds())


def decode_filetime_report_id(report_id: str) -> datetime | None:
    """Microsoft's ``133198585438131172+domain``: 100 ns ticks since 1601-01-01 UTC.

    Returns None unless the number gives a plausible date (so a random numeric id of another
    sender is not misread as a time).
    """
    number, plus, _ = report_id.partition("+")
    if not plus or not 17 <= len(number) <= 19 or not (number.isascii() and number.isdigit()):
        return None
    ticks = int(number)
    if not _PLAUSIBLE_FROM * _TICKS_PER_SECOND <= ticks < _PLAUSIBLE_TO * _TICKS_PER_SECOND:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)


# ---------------------------------------------------------------------------------------------
# Policies

_POLICY_TYPES = {
    "sts": PolicyType.STS,
    "tlsa": PolicyType.TLSA,
    "no-policy-found": PolicyType.NO_POLICY_FOUND,
}


_STRING_ARRAY = msgspec.json.Decoder(list[str])


def _policy_strings(value: Any, path: str, ptype: PolicyType) -> tuple[str, ...]:
    """policy-string as one element per record/line.

    Flattens Microsoft's single element holding a JSON-encoded array of TLSA records, and a
    TLSA list joined with ';' in one string.
    """
    if value is None:
        return ()
    if type(value) is str:  # a bare string where an array belongs: accept as one element
        value = [value]
    elif type(value) is not list:
        raise ReportError(f"{path}: expected an array of strings, got {_type_name(value)}")
    out: list[str] = []
    tlsa = ptype is PolicyType.TLSA
    for i, item in enumerate(value):
        if type(item) is not str:
            _str(item, f"{path}[{i}]")  # raises with the element's path
        if "[" in item:
            stripped = item.strip()
            if stripped[:1] == "[" and stripped[-1:] == "]":
                try:
                    inner = _STRING_ARRAY.decode(stripped)
                except _JSON_ERRORS:
                    inner = None
                if inner is not None:
                    for record in inner:
                        record = record.strip()
                        if record:
                            out.append(record)
                    continue
        if tlsa and ";" in item:
            for part in item.split(";"):
                part = part.strip()
                if part:
                    out.append(part)
            continue
        out.append(item)
    return tuple(out)


def _mx_hosts(policy: Mapping[str, Any], path: str) -> tuple[str, ...]:
    """mx-host as a list (Google), a string (RFC example, erratum 6241), or mx-host-pattern."""
    key = "mx-host" if "mx-host" in policy else "mx-host-pattern"
    value = policy.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list):
        raise ReportError(f"{path}.{key}: expected a string or an array, got {_type_name(value)}")
    return tuple(_str(v, f"{path}.{key}[{i}]") for i, v in enumerate(value))


def _failure_detail(value: Any, path: str) -> FailureDetail:
    """The checked (slow) reader of one failure detail: exact path in every error."""
    d = _obj(value, path)
    extra_uri = d.get("additional-information")
    extra_key = "additional-information"
    if extra_uri is None and "additional-info-uri" in d:
        extra_uri, extra_key = d["additional-info-uri"], "additional-info-uri"
    return FailureDetail(
        result_type=_str(_required(d, "result-type", f"{path}.result-type"), f"{path}.result-type"),
        failed_session_count=_count(
            _required(d, "failed-session-count", f"{path}.failed-session-count"),
            f"{path}.failed-session-count",
        ),
        sending_mta_ip=_opt_str(d.get("sending-mta-ip"), f"{path}.sending-mta-ip"),
        receiving_mx_hostname=_opt_str(
            d.get("receiving-mx-hostname"), f"{path}.receiving-mx-hostname"
        ),
        receiving_mx_helo=_opt_str(d.get("receiving-mx-helo"), f"{path}.receiving-mx-helo"),
        receiving_ip=_opt_str(d.get("receiving-ip"), f"{path}.receiving-ip"),
        additional_information=_opt_str(extra_uri, f"{path}.{extra_key}"),
        failure_reason_code=_opt_str(d.get("failure-reason-code"), f"{path}.failure-reason-code"),
    )


def _failure_details(raw: list[Any], policy_path: str) -> tuple[FailureDetail, ...]:
    """All failure details of a policy.

    Why two readers: a report can hold thousands of details, and building a path string and
    calling a checker per field costs more than decoding the JSON. The fast loop below checks
    every field's type inline and hands anything unusual to `_failure_detail`, which gives the
    exact error (or accepts the odd-but-valid case), so behaviour is the same on both paths.
    """
    out: list[FailureDetail] = []
    append = out.append
    for i, d in enumerate(raw):
        if type(d) is dict:
            get = d.get
            rt = get("result-type")
            n = get("failed-session-count")
            ip = get("sending-mta-ip")
            mx = get("receiving-mx-hostname")
            helo = get("receiving-mx-helo")
            rip = get("receiving-ip")
            code = get("failure-reason-code")
            info = get("additional-information")
            if info is None:
                info = get("additional-info-uri")
            if (
                type(rt) is str
                and type(n) is int
                and 0 <= n <= MAX_COUNT
                and (ip is None or type(ip) is str)
                and (mx is None or type(mx) is str)
                and (helo is None or type(helo) is str)
                and (rip is None or type(rip) is str)
                and (code is None or type(code) is str)
                and (info is None or type(info) is str)
            ):
                append(
                    FailureDetail(
                        rt,
                        n,
                        ip or None,
                        mx or None,
                        helo or None,
                        rip or None,
                        info or None,
                        code or None,
                    )
                )
                continue
        append(_failure_detail(d, f"{policy_path}.failure-details[{i}]"))
    return tuple(out)


def _simple_strings(value: Any) -> bool:
    """True for a list of plain strings needing no flattening (the common case, checked fast)."""
    if type(value) is not list:
        return False
    for x in value:  # noqa: SIM110 - a loop: all(<genexpr>) costs a generator per policy
        if type(x) is not str or "[" in x or ";" in x:
            return False
    return True


def _str_list(value: Any) -> bool:
    if type(value) is not list:
        return False
    for x in value:  # noqa: SIM110 - see _simple_strings
        if type(x) is not str:
            return False
    return True


def _policy(value: Any, index: int, envelope: Envelope, notes: list[str]) -> Policy:
    path = f"policies[{index}]"
    entry = _obj(value, path)
    pol = entry.get("policy")
    if type(pol) is not dict:
        pol = _obj(_required(entry, "policy", f"{path}.policy"), f"{path}.policy")
    ppath = f"{path}.policy"
    raw_type = pol.get("policy-type")
    if type(raw_type) is not str:
        raw_type = _str(
            _required(pol, "policy-type", f"{ppath}.policy-type"), f"{ppath}.policy-type"
        )
    ptype = _POLICY_TYPES.get(raw_type) or _POLICY_TYPES.get(
        raw_type.strip().lower(), PolicyType.OTHER
    )

    domain = pol.get("policy-domain")
    if type(domain) is not str or not domain:
        domain = _opt_str(domain, f"{ppath}.policy-domain")
    if domain is None:
        if not envelope.report_domain:
            raise ReportError(f"{ppath}.policy-domain: missing (and no TLS-Report-Domain header)")
        domain = envelope.report_domain
        notes.append(f"{path}: policy-domain missing; using TLS-Report-Domain {domain}")

    summary = entry.get("summary")
    if type(summary) is not dict:
        summary = _obj(_required(entry, "summary", f"{path}.summary"), f"{path}.summary")
    ok = summary.get("total-successful-session-count")
    failed = summary.get("total-failure-session-count")
    if (
        type(ok) is not int
        or not 0 <= ok <= MAX_COUNT
        or type(failed) is not int
        or not 0 <= failed <= MAX_COUNT
    ):
        spath = f"{path}.summary"
        for key in ("total-successful-session-count", "total-failure-session-count"):
            _count(_required(summary, key, f"{spath}.{key}"), f"{spath}.{key}")

    raw_details = entry.get("failure-details")
    if raw_details is None:
        details: tuple[FailureDetail, ...] = ()
    elif type(raw_details) is list:
        details = _failure_details(raw_details, path)
    else:
        raise ReportError(
            f"{path}.failure-details: expected an array, got {_type_name(raw_details)}"
        )

    raw_strings = pol.get("policy-string")
    if _simple_strings(raw_strings):
        strings = tuple(raw_strings)
    else:
        strings = _policy_strings(raw_strings, f"{ppath}.policy-string", ptype)

    mx = pol.get("mx-host")
    mx_hosts = tuple(mx) if _str_list(mx) else _mx_hosts(pol, ppath)

    if details:
        detail_sum = 0
        for d in details:
            detail_sum += d.failed_session_count
        if detail_sum != failed:  # Mail.ru: flag, don't reject
            notes.append(
                f"{path} ({raw_type} {domain}): failure details add up to {detail_sum}"
                f" but the summary says {failed}"
            )
    if ptype is PolicyType.OTHER:
        notes.append(f"{path}: unknown policy-type {_show(raw_type)} kept as other")
    return Policy(ptype, raw_type, domain, strings, mx_hosts, ok, failed, details)


def report_from_json(obj: Any, envelope: Envelope | None = None) -> Report:
    """Validate and normalise one decoded TLS-RPT JSON document into a `Report`.

    Raises ReportError("path: why") on anything that cannot be read; quirks that can be read
    are normalised and, where a human should know, described in `Report.notes`.
    """
    env = envelope or _NO_ENVELOPE
    root = _obj(obj, "report")
    notes: list[str] = []

    get = root.get
    organization = get("organization-name")
    if type(organization) is not str:
        organization = _str(
            _required(root, "organization-name", "organization-name"), "organization-name"
        )
    contact = get("contact-info")
    if contact is not None and type(contact) is not str:
        contact = _opt_str(contact, "contact-info")
    contact = contact or None
    report_id = get("report-id")
    if type(report_id) is not str:
        report_id = _str(_required(root, "report-id", "report-id"), "report-id")
    dr = get("date-range")
    if type(dr) is not dict:
        dr = _obj(_required(root, "date-range", "date-range"), "date-range")
    start = dr.get("start-datetime")
    if start is None:
        raise ReportError("date-range.start-datetime: missing")
    start = parse_datetime(start, "date-range.start-datetime")
    end = dr.get("end-datetime")
    if end is None:
        raise ReportError("date-range.end-datetime: missing")
    end = parse_datetime(end, "date-range.end-datetime")
    if end < start:
        notes.append("date-range: end-datetime is before start-datetime")

    raw_policies = _required(root, "policies", "policies")
    if not isinstance(raw_policies, list):
        raise ReportError(f"policies: expected an array, got {_type_name(raw_policies)}")
    policies = tuple(_policy(p, i, env, notes) for i, p in enumerate(raw_policies))

    # A Subject Report-ID that differs from the JSON one is normal (Google always does it):
    # both are kept, the JSON one counts (RFC 8460 §5.6); no note.
    return Report(  # positional: this runs once per report and kwargs cost measurably more
        organization,
        contact,
        report_id,
        start,
        end,
        policies,
        env.subject_report_id,
        env.report_domain,
        env.submitter,
        decode_filetime_report_id(report_id),
        tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# Typed fast path
#
# Why a second reader: the common case is a well-formed report, and for it msgspec can decode
# AND type-check the whole document in C (as fast as an untyped decode), leaving Python only
# the normalising and the model objects to build. Anything the schema refuses, or anything
# unusual, goes through load_json + report_from_json above, which gives the exact "path: why"
# error or accepts the odd-but-valid case, so both paths produce the same results (a test
# compares them on every fixture and sample).

_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
_Strings = list[str] | str | None


class _JDetail(msgspec.Struct, kw_only=True, gc=False):
    result_type: str = msgspec.field(name="result-type")
    failed_session_count: _Count = msgspec.field(name="failed-session-count")
    sending_mta_ip: str | None = msgspec.field(name="sending-mta-ip", default=None)
    receiving_mx_hostname: str | None = msgspec.field(name="receiving-mx-hostname", default=None)
    receiving_mx_helo: str | None = msgspec.field(name="receiving-mx-helo", default=None)
    receiving_ip: str | None = msgspec.field(name="receiving-ip", default=None)
    additional_information: str | None = msgspec.field(name="additional-information", default=None)
    additional_info_uri: str | None = msgspec.field(name="additional-info-uri", default=None)
    failure_reason_code: str | None = msgspec.field(name="failure-reason-code", default=None)


class _JPolicy(msgspec.Struct, kw_only=True, gc=False):
    policy_type: str = msgspec.field(name="policy-type")
    policy_string: _Strings = msgspec.field(name="policy-string", default=None)
    policy_domain: str | None = msgspec.field(name="policy-domain", default=None)
    mx_host: _Strings = msgspec.field(name="mx-host", default=None)
    mx_host_pattern: _Strings = msgspec.field(name="mx-host-pattern", default=None)


class _JSummary(msgspec.Struct, kw_only=True, gc=False):
    ok: _Count = msgspec.field(name="total-successful-session-count")
    failed: _Count = msgspec.field(name="total-failure-session-count")


class _JEntry(msgspec.Struct, kw_only=True, gc=False):
    policy: _JPolicy
    summary: _JSummary
    failure_details: list[_JDetail] | None = msgspec.field(name="failure-details", default=None)


class _JDateRange(msgspec.Struct, kw_only=True, gc=False):
    start: str = msgspec.field(name="start-datetime")
    end: str = msgspec.field(name="end-datetime")


class _JReport(msgspec.Struct, kw_only=True, gc=False):
    organization: str = msgspec.field(name="organization-name")
    contact: str | None = msgspec.field(name="contact-info", default=None)
    report_id: str = msgspec.field(name="report-id")
    date_range: _JDateRange = msgspec.field(name="date-range")
    policies: list[_JEntry]


_TYPED = msgspec.json.Decoder(_JReport)


def _direct_constructor(cls: type) -> Callable[..., Any]:
    """A positional constructor for a frozen slotted dataclass that skips its ``__init__``.

    Why: a frozen dataclass's generated ``__init__`` sets each field through
    ``object.__setattr__(self, "name", value)`` (a global lookup, an attribute lookup and a
    descriptor search per field); building the model objects was the largest single cost of
    turning a report into objects. Calling each slot's descriptor directly does the same
    assignment for ~60% of the cost. Used only when it is equivalent: slots, no
    ``__post_init__``, every field in ``__init__``; otherwise the class itself is returned.
    """
    fields = dataclasses.fields(cls)
    if (
        "__post_init__" in vars(cls)
        or not hasattr(cls, "__slots__")
        or not all(f.init for f in fields)
    ):
        return cls
    names = [f.name for f in fields]
    args = ", ".join(names)
    body = "".join(f"    set_{n}(obj, {n})\n" for n in names)
    src = f"def new({args}):\n    obj = alloc(cls)\n{body}    return obj\n"
    scope: dict[str, Any] = {"alloc": object.__new__, "cls": cls}
    scope.update({f"set_{n}": vars(cls)[n].__set__ for n in names})
    exec(src, scope)
    return scope["new"]


_new_detail = _direct_constructor(FailureDetail)
_new_policy = _direct_constructor(Policy)
_new_report = _direct_constructor(Report)


def with_notes(report: Report, notes: Sequence[str]) -> Report:
    """``dataclasses.replace(report, notes=report.notes + tuple(notes))`` for a fraction of
    its cost: it looks up every field of the class on each call, and a mail's envelope notes
    are added to nearly every report of an import. (It names every field of Report, in
    order: tests/test_parse_fastpaths.py checks that it keeps them all.)"""
    r = report
    return _new_report(r.organization, r.contact, r.report_id, r.start, r.end, r.policies,
                       r.subject_report_id, r.report_domain, r.submitter, r.generated_at,
                       r.notes + tuple(notes))


def _hosts(value: _Strings) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is str:
        return (value,) if value else ()
    return tuple(value)


def _typed_report(j: _JReport, env: Envelope) -> Report:
    notes: list[str] = []
    start = parse_datetime(j.date_range.start, "date-range.start-datetime")
    end = parse_datetime(j.date_range.end, "date-range.end-datetime")
    if end < start:
        notes.append("date-range: end-datetime is before start-datetime")
    policies = []
    for index, entry in enumerate(j.policies):
        pol = entry.policy
        raw_type = pol.policy_type
        ptype = _POLICY_TYPES.get(raw_type) or _POLICY_TYPES.get(
            raw_type.strip().lower(), PolicyType.OTHER
        )
        domain = pol.policy_domain
        if not domain:
            if not env.report_domain:
                raise ReportError(
                    f"policies[{index}].policy.policy-domain: missing"
                    " (and no TLS-Report-Domain header)"
                )
            domain = env.report_domain
            notes.append(
                f"policies[{index}]: policy-domain missing; using TLS-Report-Domain {domain}"
            )
        raw_strings = pol.policy_string
        if _simple_strings(raw_strings):
            strings = tuple(raw_strings)  # type: ignore[arg-type]
        else:
            strings = _policy_strings(raw_strings, f"policies[{index}].policy.policy-string", ptype)
        mx = pol.mx_host if pol.mx_host is not None else pol.mx_host_pattern
        failed = entry.summary.failed
        details: tuple[FailureDetail, ...] = ()
        if entry.failure_details:
            details = tuple(
                [
                    _new_detail(
                        d.result_type,
                        d.failed_session_count,
                        d.sending_mta_ip or None,
                        d.receiving_mx_hostname or None,
                        d.receiving_mx_helo or None,
                        d.receiving_ip or None,
                        (
                            d.additional_information
                            if d.additional_information is not None
                            else d.additional_info_uri
                        )
                        or None,
                        d.failure_reason_code or None,
                    )
                    for d in entry.failure_details
                ]
            )
            detail_sum = 0
            for d in details:
                detail_sum += d.failed_session_count
            if detail_sum != failed:
                notes.append(
                    f"policies[{index}] ({raw_type} {domain}): failure details add up to"
                    f" {detail_sum} but the summary says {failed}"
                )
        if ptype is PolicyType.OTHER:
            notes.append(f"policies[{index}]: unknown policy-type {_show(raw_type)} kept as other")
        policies.append(
            _new_policy(
                ptype, raw_type, domain, strings, _hosts(mx), entry.summary.ok, failed, details
            )
        )
    return _new_report(
        j.organization,
        j.contact or None,
        j.report_id,
        start,
        end,
        tuple(policies),
        env.subject_report_id,
        env.report_domain,
        env.submitter,
        decode_filetime_report_id(j.report_id),
        tuple(notes),
    )


def typed_report(
    data: bytes, envelope: Envelope | None = None, max_depth: int = 64
) -> Report | None:
    """The fast path alone: a Report when `data` is a plainly well-formed TLS-RPT document,
    None when the typed schema refuses it (then use load_json + report_from_json, which tell
    "not a report" from "broken report" and name the bad path).

    Raises ReportError only for what both paths reject alike (depth, no policy-domain).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    check_json_depth(data, max_depth)
    try:
        typed = _TYPED.decode(data)
    except _JSON_ERRORS:
        return None
    return _typed_report(typed, envelope or _NO_ENVELOPE)


def report_from_bytes(data: bytes, envelope: Envelope | None = None, max_depth: int = 64) -> Report:
    """JSON bytes → Report: the typed fast path, the checked path when it refuses.

    Raises ReportError("path: why") exactly as load_json + report_from_json would.
    """
    report = typed_report(data, envelope, max_depth)
    if report is None:
        report = report_from_json(load_json(data, max_depth), envelope)
    return report
