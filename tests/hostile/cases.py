"""The hostile cases: each builds its input and checks what the code under test did with it.

A case function returns one line describing the outcome (for the report in docs/robustness.md)
and raises AssertionError when the outcome is not safe. "Safe" means: no exception escapes,
the input is rejected (or shown) with a one-line reason free of control characters, and the
parser never touches the file system with names taken from the input. Time and peak memory
are measured around each case by ``run.py`` (a forked child per case).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hostile import builders as b

SOURCE = "hostile/input"


@dataclass(frozen=True)
class Case:
    group: str
    name: str
    what: str
    run: Callable[[Path], str]  # gets a private scratch directory


CASES: list[Case] = []


def case(group: str, name: str, what: str) -> Callable[[Callable[[Path], str]], Callable]:
    def register(fn: Callable[[Path], str]) -> Callable[[Path], str]:
        CASES.append(Case(group, name, what, fn))
        return fn

    return register


def groups() -> list[str]:
    return sorted({c.group for c in CASES})


# ---------------------------------------------------------------------------------------------
# Checks shared by the cases


def check_line(text: str | None, what: str = "error", max_len: int = 600) -> None:
    """A reason shown to the user: present, one line, no control characters, not huge."""
    assert text, f"{what} is empty"
    bad = sorted({c for c in text if c in b.CONTROL_CHARS})
    assert not bad, f"{what} holds control characters {bad!r}: {text[:200]!r}"
    assert len(text) <= max_len, f"{what} is {len(text)} characters long"


# Peak memory of the code under test: the kernel's RSS high-water mark is reset right before
# the call (``clear_refs`` 5) and read after it, so building the input does not count, but the
# interpreter, the imported parser and the input itself (as the caller holds it) do.
PEAK_MB = [0.0]


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@contextmanager
def measured() -> Iterator[None]:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:  # not allowed here: the figure then also covers building the input
        pass
    try:
        yield
    finally:
        PEAK_MB[0] = max(PEAK_MB[0], _hwm_mb())


# File-system writes and deletes seen while `guard_fs` is active (audit hook, see run.py).
FS_EVENTS: list[tuple[str, str]] = []
_FS_GUARD = [False]
_WATCHED = ("os.mkdir", "os.rename", "os.remove", "os.symlink", "os.link", "shutil.", "os.chmod")


def _audit(event: str, args: tuple) -> None:
    if not _FS_GUARD[0]:
        return
    if event == "open":
        mode = args[1] if len(args) > 1 else "r"
        if isinstance(args[0], int):  # an fd (e.g. the interpreter's own): not a path
            return
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = isinstance(mode, str) and any(c in mode for c in "wax+")
        if writes or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            FS_EVENTS.append((event, str(args[0])))
    elif event.startswith(_WATCHED):
        FS_EVENTS.append((event, repr(args)[:100]))


_HOOKED = [False]


def guard_fs() -> None:
    if not _HOOKED[0]:
        sys.addaudithook(_audit)
        _HOOKED[0] = True


def parse(data: bytes, allowed: str | tuple[str, ...], reason: str | None = None):
    """parse_bytes under the file-system guard; checks status, reason and every error line."""
    from tlsrpt_tui.core.model import ParsedInput
    from tlsrpt_tui.core.parse import parse_bytes

    guard_fs()
    FS_EVENTS.clear()
    with measured():
        _FS_GUARD[0] = True
        try:
            result = parse_bytes(data, SOURCE)
        finally:
            _FS_GUARD[0] = False
    assert isinstance(result, ParsedInput)
    assert not FS_EVENTS, f"the parser touched the file system: {FS_EVENTS[:3]}"
    assert result.source == SOURCE
    allowed = (allowed,) if isinstance(allowed, str) else allowed
    assert result.status in allowed, f"status {result.status}, expected {allowed}: {result.error}"
    if result.status != "report":
        check_line(result.error)
        assert not result.error.startswith("internal parser error"), result.error
        if reason:
            assert re.search(reason, result.error), f"{result.error!r} !~ {reason!r}"
    for err in result.part_errors:
        check_line(err, "part error")
    return result


def outcome(result) -> str:
    if result.status == "report":
        extra = f"; {len(result.part_errors)} part errors" if result.part_errors else ""
        first = f" ({result.part_errors[0][:80]})" if result.part_errors else ""
        return f"report: {len(result.reports)} report(s){extra}{first}"
    return f"{result.status}: {result.error}"


REPORT = b.dumps(b.report())


# ---------------------------------------------------------------------------------------------
# Containers: gzip, zip, base64


@case("containers", "gzip-bomb-10GiB", "gzip of 10 GiB of zeros (10 MiB compressed)")
def _(tmp: Path) -> str:
    return outcome(parse(b.gzip_zeros(10 * b.GiB), "rejected", r"exceeds 20 MiB"))


@case("containers", "gzip-bomb-nested", "gzip of gzip of gzip of 10 GiB of zeros")
def _(tmp: Path) -> str:
    return outcome(parse(b.gz(b.gz(b.gzip_zeros(10 * b.GiB))), "rejected", r"exceeds 20 MiB"))


@case("containers", "gzip-bomb-in-mail", "TLS-RPT mail whose attachment is a 1 GiB gzip bomb")
def _(tmp: Path) -> str:
    res = parse(b.report_mail(b.gzip_zeros(b.GiB)), "rejected", r"r\.json\.gz.*exceeds")
    return outcome(res)


@case("containers", "gzip-truncated", "a gzipped report cut 20 bytes short")
def _(tmp: Path) -> str:
    return outcome(parse(b.gz(REPORT)[:-20], "rejected", "truncated|corrupt"))


@case("containers", "gzip-header-only", "the 3-byte gzip magic and nothing else")
def _(tmp: Path) -> str:
    return outcome(parse(b"\x1f\x8b\x08", "rejected", "gzip"))


@case("containers", "gzip-garbage", "gzip magic followed by 1 MiB of random bytes")
def _(tmp: Path) -> str:
    return outcome(parse(b"\x1f\x8b" + os.urandom(b.MiB), "rejected", "gzip"))


@case("containers", "gzip-many-members", "40 MiB of concatenated empty gzip members (2M members)")
def _(tmp: Path) -> str:
    one = b.gz(b"")
    data = one * (40 * b.MiB // len(one))
    return outcome(parse(data, "rejected"))


@case("containers", "gzip-invalid-utf8", "gzipped JSON holding invalid UTF-8")
def _(tmp: Path) -> str:
    data = b.gz(REPORT.replace(b"Hostile Sender", b"Hostile \xff\xfe\xc0"))
    return outcome(parse(data, "rejected", "invalid JSON"))


@case("containers", "zip-100k-members", "zip with 100,000 empty members")
def _(tmp: Path) -> str:
    return outcome(parse(b.zip_many_empty(100_000), "rejected", r"over the 100 limit"))


@case("containers", "zip-500k-members", "zip with 500,000 members (42 MiB, under the input limit)")
def _(tmp: Path) -> str:
    return outcome(parse(b.zip_many_empty(500_000), "rejected", r"over the 100 limit"))


@case("containers", "zip-bomb-member", "zip with one member inflating to 1 GiB of zeros")
def _(tmp: Path) -> str:
    data = b.make_zip([("r.json", bytes(b.GiB // 16))])  # 64 MiB compressed to 64 KiB
    return outcome(parse(data, "rejected", r"exceeds 20 MiB"))


@case("containers", "zip-overlapping-bomb", "100 entries sharing one 21 MiB member (overlap bomb)")
def _(tmp: Path) -> str:
    data = b.zip_overlapping(bytes(21 * b.MiB), 100)
    return outcome(parse(data, "rejected", r"exceeds (20|100) MiB"))


@case(
    "containers",
    "zip-overlapping-reports",
    "100 entries sharing one 15 MiB valid report (1.5 GB of JSON if all were read)",
)
def _(tmp: Path) -> str:
    big = b.dumps(b.report(**{"organization-name": "x" * (15 * b.MiB)}))
    res = parse(b.zip_overlapping(big, 100), ("report", "rejected"), "in total")
    assert len(res.reports) <= 1, len(res.reports)  # 20 MiB of JSON per input at most
    return outcome(res)


@case("containers", "zip-nested-10", "a report inside 10 levels of zip")
def _(tmp: Path) -> str:
    return outcome(parse(b.nested_zip(REPORT, 10), "rejected", r"wrapped more than 4 levels"))


@case("containers", "zip-quine-like", "50 zips nested with the same member name at each level")
def _(tmp: Path) -> str:
    return outcome(parse(b.zip_quine_like(50), "rejected", r"wrapped more than"))


@case("containers", "zip-mixed-nesting", "zip > gzip > base64 > zip > gzip > report")
def _(tmp: Path) -> str:
    inner = b.gz(b.make_zip([("a", base64.encodebytes(b.gz(REPORT)))]))
    return outcome(parse(b.make_zip([("r", inner)]), "rejected", r"wrapped more than"))


@case(
    "containers",
    "zip-path-traversal",
    "members named ../../x, /etc/x, C:\\x, ..\\x holding reports: names are labels only",
)
def _(tmp: Path) -> str:
    target = tmp / "pwned.json"
    rel = os.path.relpath(target, Path.cwd())
    names = [rel, "../../../../../../tmp/hostile-pwned.json", "AAAAetc/passwd", "C:\\x\\y.json",
             "..\\..\\x.json", "a/../../../b.json"]
    data = b.make_zip([(n, REPORT) for n in names])
    data = b.rename_members(data, "AAAAetc/passwd", "////etc/passwd")  # absolute, same length
    res = parse(data, "report")
    assert len(res.reports) == len(names)
    assert not target.exists() and not Path("/tmp/hostile-pwned.json").exists()
    return outcome(res)


@case(
    "containers",
    "zip-hostile-member-names",
    "members whose names carry ESC, BEL, C1 controls and markup, holding broken JSON",
)
def _(tmp: Path) -> str:
    names = ["a\x1b[2Jb.json", "c\x9b31md.json", "e\x07\x85f.json", "[bold red]X[/].json"]
    data = b.make_zip([(n, b"{not json") for n in names])
    return outcome(parse(data, "rejected", "invalid JSON"))


@case("containers", "zip-unsupported-method", "a member claiming compression method 99")
def _(tmp: Path) -> str:
    return outcome(parse(b.zip_unsupported_method(REPORT), "rejected", "compression|corrupt"))


@case("containers", "zip-encrypted", "a member flagged as encrypted")
def _(tmp: Path) -> str:
    return outcome(parse(b.zip_encrypted_flag(REPORT), "rejected", "zip member|encrypt"))


@case("containers", "zip-truncated", "a zip cut in half")
def _(tmp: Path) -> str:
    data = b.make_zip([("r.json", REPORT * 5)])
    return outcome(parse(data[: len(data) // 2], "rejected", "zip"))


@case("containers", "zip-empty", "a zip with no members, and one with only directories")
def _(tmp: Path) -> str:
    parse(b.make_zip([]), "rejected", "zip")
    return outcome(parse(b.make_zip([("d/", b"")]), "rejected", "empty"))


@case("containers", "zip-lying-directory", "end record claims 65535 entries and a huge directory")
def _(tmp: Path) -> str:
    data = bytearray(b.make_zip([("r.json", REPORT)]))
    eocd = data.rfind(b"PK\x05\x06")
    data[eocd + 8 : eocd + 16] = b"\xff\xff\xff\xff\xff\xff\xff\x7f"
    return outcome(parse(bytes(data), ("rejected", "report")))


@case("containers", "base64-nested-10", "a report base64-encoded 10 times over")
def _(tmp: Path) -> str:
    data = REPORT
    for _ in range(10):
        data = base64.encodebytes(data)
    return outcome(parse(data, "rejected", r"wrapped more than"))


@case("containers", "base64-junk-40MiB", "40 MiB of base64 text decoding to nothing useful")
def _(tmp: Path) -> str:
    return outcome(parse(b"QUFB" * (10 * b.MiB), "rejected"))


@case("containers", "random-bytes", "1 MiB of random bytes, and every single byte value")
def _(tmp: Path) -> str:
    for i in range(256):
        parse(bytes([i]), ("rejected", "not-report"))
    return outcome(parse(os.urandom(b.MiB), ("rejected", "not-report")))


# ---------------------------------------------------------------------------------------------
# JSON


@case("json", "deep-array-100k", "[[[[...]]]] nested 100,000 levels")
def _(tmp: Path) -> str:
    # At the top level it may be refused by the sniffer (a report is an object) or by the
    # depth check; inside an object only the depth check stands.
    data = b"[" * 100_000 + b"]" * 100_000
    parse(b'{"a":' + data + b"}", "rejected", "nested deeper")
    return outcome(parse(data, "rejected", "nested deeper|not a mail message, JSON"))


@case("json", "deep-object-100k", '{"a":{"a":...}} nested 100,000 levels')
def _(tmp: Path) -> str:
    data = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    return outcome(parse(data, "rejected", "nested deeper"))


@case("json", "unclosed-1M", "one million opening brackets, never closed")
def _(tmp: Path) -> str:
    return outcome(parse(b"{" + b"[" * 1_000_000, "rejected", "nested deeper"))


@case("json", "deep-in-report", "a report whose contact-info is an array nested 10,000 levels")
def _(tmp: Path) -> str:
    deep = b"[" * 10_000 + b"]" * 10_000
    data = REPORT.replace(b'"tlsrpt@sender.example"', deep)
    return outcome(parse(data, "rejected", "nested deeper"))


@case("json", "deep-policy-string", "a policy-string element holding JSON nested 100,000 levels")
def _(tmp: Path) -> str:
    rep = b.report()
    rep["policies"][0]["policy"]["policy-string"] = ["[" * 100_000 + "]" * 100_000]
    return outcome(parse(b.dumps(rep), "report"))


@case("json", "huge-numbers", "counts of 1e400, 10**5000, -1, 1.5, 2**64, true, \"7\"")
def _(tmp: Path) -> str:
    lines = []
    for raw in (b"1e400", b"9" * 5000, b"-1", b"1.5", str(2**64).encode(), b"true", b'"7"',
                b"-0", b"1e2", b"NaN", b"Infinity"):
        data = REPORT.replace(b'"failed-session-count": 2', b'"failed-session-count": ' + raw)
        res = parse(data, ("rejected", "report"))
        if res.status == "report":  # only a plain non-negative integer may be accepted
            n = res.reports[0].policies[0].failure_details[0].failed_session_count
            assert type(n) is int and n >= 0, n
        lines.append(f"{raw[:8].decode()}: {res.status}")
    return "; ".join(lines)


@case("json", "negative-counts", "negative session counts in the summary and in a detail")
def _(tmp: Path) -> str:
    data = REPORT.replace(b'"total-successful-session-count": 10',
                          b'"total-successful-session-count": -10')
    return outcome(parse(data, "rejected", "non-negative integer"))


@case("json", "wrong-types", "every field of a report replaced by each of 9 wrong-typed values")
def _(tmp: Path) -> str:
    rep = b.report()
    values = [None, True, -1, 1.5, 10**30, "", "x", [], {}]
    counts = {"rejected": 0, "report": 0, "not-report": 0}
    for path in b.leaf_paths(rep):
        for value in values:
            res = parse(b.dumps(b.set_path(rep, path, value)), ("rejected", "report", "not-report"))
            counts[str(res.status)] += 1
    total = sum(counts.values())
    return f"{total} variants: " + ", ".join(f"{v} {k}" for k, v in counts.items())


@case("json", "missing-fields", "every field of a report removed, one at a time")
def _(tmp: Path) -> str:
    import json

    rep = b.report()
    n = 0
    for path in b.leaf_paths(rep):
        variant = json.loads(json.dumps(rep))
        target = variant
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        parse(b.dumps(variant), ("rejected", "report", "not-report"))
        n += 1
    return f"{n} variants, no crash, every error one line"


@case("json", "invalid-utf8-and-surrogates", "invalid UTF-8, lone surrogates, NUL, BOM twice")
def _(tmp: Path) -> str:
    out = []
    for bad in (b"\xff\xfe", b"\\ud800", b"\\udfff\\ud800", b"\xc0\xaf", b"\\u0000",
                b"\xed\xa0\x80"):
        res = parse(REPORT.replace(b"Hostile Sender", bad), ("rejected", "report"))
        out.append(str(res.status))
    parse(b"\xef\xbb\xbf\xef\xbb\xbf" + REPORT, ("rejected", "report"))
    return ", ".join(out)


@case("json", "bad-dates", "dates out of range, with huge offsets, garbage, numbers")
def _(tmp: Path) -> str:
    out = []
    for bad in ("9999-99-99T00:00:00Z", "0000-01-01T00:00:00Z", "2026-05-01T00:00:00+99:99",
                "9999-12-31T23:59:59-23:59", "2026-05-01T00:00:00.9999999999Z", "", "x" * 10**6):
        rep = b.report()
        rep["date-range"]["start-datetime"] = bad
        res = parse(b.dumps(rep), ("rejected", "report"))
        out.append(str(res.status))
    return ", ".join(out)


@case("json", "filetime-overflow", "Microsoft-style report-ids with absurd tick counts")
def _(tmp: Path) -> str:
    for rid in ("9" * 19 + "+x", "0" * 17 + "+x", "1" * 5000 + "+x"):
        parse(b.dumps(b.report(**{"report-id": rid})), "report")
    return "report (no generated-at date for absurd ids)"


@case("json", "plain-json-25MiB", "a 25 MiB JSON report file (over the 20 MiB report limit)")
def _(tmp: Path) -> str:
    data = b.dumps(b.report(**{"organization-name": "x" * (25 * b.MiB)}))
    return outcome(parse(data, "rejected", r"exceeds 20 MiB"))


@case("json", "many-details", "a valid 19 MiB report with 60,000 failure details")
def _(tmp: Path) -> str:
    rep = b.report()
    detail = rep["policies"][0]["failure-details"][0]
    rep["policies"][0]["failure-details"] = [detail] * 60_000
    rep["policies"][0]["summary"]["total-failure-session-count"] = 120_000
    data = b.dumps(rep)
    assert 18 * b.MiB < len(data) < 20 * b.MiB, len(data)
    res = parse(data, "report")
    assert len(res.reports[0].policies[0].failure_details) == 60_000
    return outcome(res)


@case("json", "many-policies", "a report with one million empty policy objects")
def _(tmp: Path) -> str:
    rep = b.report(policies=[{}] * 1_000_000)
    return outcome(parse(b.dumps(rep), "rejected", r"policies\[0\]"))


@case("json", "duplicate-keys", "every key of the report given twice with different values")
def _(tmp: Path) -> str:
    data = REPORT[:-1] + b', "organization-name": 5, "policies": "x"}'
    return outcome(parse(data, ("rejected", "report")))


# ---------------------------------------------------------------------------------------------
# MIME


@case("mime", "no-close-boundary", "report mail whose multipart never closes")
def _(tmp: Path) -> str:
    return outcome(parse(b.report_mail(b.gz(REPORT), close=False), "report"))


@case("mime", "boundary-in-body", "the boundary string appears inside the text part")
def _(tmp: Path) -> str:
    data = b.mail([("text/plain", "7bit", b"a --B b\n--Bx\n--B-- not the end"),
                   ("application/tlsrpt+json", "7bit", REPORT)])
    return outcome(parse(data, ("report", "rejected")))


@case("mime", "header-10MiB", "a 10 MiB Subject header on one line")
def _(tmp: Path) -> str:
    data = b"Subject: " + b"x" * (10 * b.MiB) + b"\n" + b.report_mail(b.gz(REPORT))
    return outcome(parse(data, ("report", "rejected")))


@case("mime", "header-folded-1M", "a Subject folded over one million continuation lines")
def _(tmp: Path) -> str:
    data = b"Subject: a\n" + b" b\n" * 1_000_000 + b.report_mail(b.gz(REPORT))
    return outcome(parse(data, ("report", "rejected")))


@case("mime", "headers-1M", "one million header lines before the report")
def _(tmp: Path) -> str:
    data = b"X-Junk: y\n" * 1_000_000 + b.report_mail(b.gz(REPORT))
    return outcome(parse(data, ("report", "rejected")))


@case("mime", "parts-100k", "a multipart with 100,000 parts")
def _(tmp: Path) -> str:
    data = b.mail([("text/plain", "7bit", b"x")] * 100_000)
    return outcome(parse(data, "rejected", "more than 1000 MIME parts"))


@case("mime", "empty-multiparts-100k", "100,000 nested-but-empty multiparts in one message")
def _(tmp: Path) -> str:
    inner = b"--B\nContent-Type: multipart/mixed; boundary=C\n\n--C--\n" * 100_000
    data = b"From: a@b\nContent-Type: multipart/mixed; boundary=B\n\n" + inner + b"--B--\n"
    return outcome(parse(data, ("rejected", "not-report"), "more than 1000 MIME parts"))


@case("mime", "nested-10k", "multiparts nested 10,000 levels deep")
def _(tmp: Path) -> str:
    head = b"From: a@b\nContent-Type: multipart/mixed; boundary=B0\n\n"
    body = b"".join(
        b"--B%d\nContent-Type: multipart/mixed; boundary=B%d\n\n" % (i, i + 1)
        for i in range(10_000)
    )
    return outcome(parse(head + body, "rejected", "nested deeper"))


@case("mime", "no-boundary-param", "multipart/report without a boundary, and with an empty one")
def _(tmp: Path) -> str:
    parse(b.report_mail(b.gz(REPORT), top='multipart/report; report-type="tlsrpt"'),
          "rejected", "boundary")
    return outcome(parse(b.report_mail(b.gz(REPORT), top="multipart/report; boundary=\"\""),
                         "rejected", "boundary"))


@case("mime", "boundary-1MiB", "a 1 MiB boundary parameter")
def _(tmp: Path) -> str:
    bnd = "b" * b.MiB
    data = b.report_mail(b.gz(REPORT), top=f'multipart/report; boundary="{bnd}"', boundary=bnd)
    return outcome(parse(data, ("report", "rejected")))


@case("mime", "bad-base64", "a report attachment of corrupt base64, and of base64 with junk")
def _(tmp: Path) -> str:
    data = b.mail([("application/tlsrpt+gzip", "base64", b"!!!!====A")])
    parse(data, "rejected")
    junk = base64.encodebytes(b.gz(REPORT)).replace(b"\n", b"\n*%$\x00\n")
    return outcome(parse(b.mail([("application/tlsrpt+gzip", "base64", junk)]),
                         ("rejected", "report")))


@case("mime", "bad-quoted-printable", "a JSON attachment in broken quoted-printable")
def _(tmp: Path) -> str:
    body = REPORT.replace(b'"', b"=22").replace(b"{", b"=ZZ=\n=") + b"=\n=4"
    return outcome(parse(b.mail([("application/tlsrpt+json", "quoted-printable", body)]),
                         ("rejected", "report")))


@case("mime", "rfc2047-abuse", "subject of 100k encoded-words with odd charsets (rot13, idna, hex)")
def _(tmp: Path) -> str:
    words = "".join(
        f"=?{cs}?{enc}?{text}?= "
        for cs, enc, text in [("rot13", "Q", "a"), ("idna", "B", "/w=="), ("hex", "Q", "zz"),
                              ("x-unknown", "B", "QUFB"), ("utf-8", "B", "!!!")]
    )
    data = b"Subject: " + (words * 20_000).encode() + b"\n" + b.report_mail(b.gz(REPORT))
    return outcome(parse(data, ("report", "rejected")))


@case("mime", "rfc2231-abuse", "filename split into 10,000 continuations with huge indices")
def _(tmp: Path) -> str:
    params = "".join(f"; name*{i * 10**20}*=utf-8''%FF%{i % 100:02d}" for i in range(10_000))
    data = b.mail([(f"application/tlsrpt+gzip{params}", "base64",
                    base64.encodebytes(b.gz(REPORT)))])
    return outcome(parse(data, ("report", "rejected")))


@case("mime", "hostile-headers", "TLS-Report-Domain / Submitter / Subject with markup and escapes")
def _(tmp: Path) -> str:
    hdr = (f"TLS-Report-Domain: {b.HOSTILE_TEXT}\nTLS-Report-Submitter: {b.HOSTILE_TEXT}\n"
           f"X: =?utf-8?b?{base64.b64encode(b.HOSTILE_TEXT.encode()).decode()}?=\n")
    return outcome(parse(b.report_mail(b.gz(REPORT), headers=hdr), "report"))


@case("mime", "dmarc-mail", "a DMARC aggregate report mail (zipped XML)")
def _(tmp: Path) -> str:
    xml = b'<?xml version="1.0"?><feedback><report_metadata/></feedback>'
    data = b.mail([("text/plain", "7bit", b"DMARC"),
                   ('application/zip; name="r.xml.zip"', "base64",
                    base64.encodebytes(b.make_zip([("r.xml", xml)])))],
                  top="multipart/mixed; boundary=B", headers="")
    return outcome(parse(data, "not-report"))


@case("mime", "spam-mail", "spam: HTML, an .exe attachment and a zip bomb attachment")
def _(tmp: Path) -> str:
    data = b.mail([("text/html", "quoted-printable", b"<b>WIN</b>=20=\n"),
                   ('application/octet-stream; name="a.exe"', "base64",
                    base64.encodebytes(b"MZ" + os.urandom(4096))),
                   ('application/gzip; name="b.gz"', "base64",
                    base64.encodebytes(b.gzip_zeros(b.GiB)))],
                  top="multipart/mixed; boundary=B", headers="")
    return outcome(parse(data, "not-report"))


@case("mime", "attachment-49MiB", "a 49 MiB report mail attachment of base64 garbage")
def _(tmp: Path) -> str:
    data = b.mail([("application/tlsrpt+gzip", "base64", b"QUFB" * (12 * b.MiB))])
    return outcome(parse(data, "rejected"))


@case("mime", "attachment-49MiB-crlf", "the same with CRLF line endings (normalised by a copy)")
def _(tmp: Path) -> str:
    data = b.mail([("application/tlsrpt+gzip", "base64", b"QUFB" * (12 * b.MiB))])
    data = data.replace(b"\n", b"\r\n")
    return outcome(parse(data, "rejected"))


@case("mime", "nested-big-attachment", "a 40 MiB attachment inside 19 levels of multipart")
def _(tmp: Path) -> str:
    head = b"From: a@b\nContent-Type: multipart/mixed; boundary=B0\n\n"
    body = b"".join(
        b"--B%d\nContent-Type: multipart/mixed; boundary=B%d\n\n" % (i, i + 1) for i in range(18)
    )
    leaf = b"--B18\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n"
    return outcome(parse(head + body + leaf + b"QUFB" * (10 * b.MiB), "rejected"))


@case("mime", "binary-headers", "headers of NUL bytes, 8-bit junk and lines without colons")
def _(tmp: Path) -> str:
    data = b"Subject: \x00\xff\xfe\nno colon here\n\x80\x81: x\n" + b.report_mail(b.gz(REPORT))
    return outcome(parse(data, ("report", "rejected", "not-report")))


# ---------------------------------------------------------------------------------------------
# Hostile text in every field (the parser keeps it exact; the fronts neutralise it)


@case("text", "markup-every-field", "Rich markup, OSC 52, CSI, BEL, C1, bidi, NUL in every field")
def _(tmp: Path) -> str:
    from tlsrpt_tui.core import tables

    res = parse(b.dumps(b.hostile_report()), "report")
    rep = res.reports[0]
    assert b.HOSTILE_TEXT in rep.organization and b.HOSTILE_TEXT in rep.report_id
    lines = []
    with measured():
        rendered = [(kind, list(tables.render(rows, tables.ROW_TYPES[kind], "table")))
                    for kind, rows in (("overview", [tables.overview_row(rep)]),
                                       ("policies", tables.policy_rows(rep)),
                                       ("failures", tables.failure_rows(rep)))]
    for kind, out in rendered:
        for line in out:
            bad = {c for c in line if c in b.CONTROL_CHARS - {"\n"}}
            assert not bad, f"{kind} table leaks {bad!r}"
            lines.append(line)
    text = "".join(lines)
    assert "[bold red]X[/]" in text  # markup stays literal text
    return f"report kept verbatim; {len(lines)} table lines free of control characters"


@case("text", "markup-in-mail", "the hostile report as a TLS-RPT mail with hostile headers")
def _(tmp: Path) -> str:
    hdr = f"TLS-Report-Domain: {b.HOSTILE_TEXT}\nTLS-Report-Submitter: {b.HOSTILE_TEXT}\n"
    res = parse(b.report_mail(b.gz(b.dumps(b.hostile_report())), headers=hdr), "report")
    return outcome(res)


@case("text", "ui-text-helpers", "ui.text.clean/cell on the hostile text and every C0/C1")
def _(tmp: Path) -> str:
    from tlsrpt_tui.ui import text as ui_text

    samples = [b.HOSTILE_TEXT, "".join(chr(i) for i in range(0x100)), "\x1b", "\x1b]", "\x9b",
               "\x1bP" + "x" * 10_000, "\x1b[" + "1;" * 100_000]
    with measured():
        outs = [(s, (ui_text.clean(s), ui_text.cell(s).plain)) for s in samples]
    for s, triple in outs:
        for out in triple:
            bad = {c for c in out if c in b.CONTROL_CHARS}
            assert not bad, f"{s[:20]!r} -> {bad!r}"
    assert "[bold red]X[/]" in ui_text.cell(b.HOSTILE_TEXT).plain
    return f"{len(samples)} samples: no control character survives, markup literal"


# ---------------------------------------------------------------------------------------------
# DNS records, policy files, TLSA, certificates


def check_findings(findings: list) -> None:
    for f in findings:
        check_line(f.message, f"finding {f.code}", max_len=1200)  # message + capped detail


@case("records", "tlsrpt-txt-garbage", "TLS-RPT TXT: huge, binary, markup, escapes, 10k rua")
def _(tmp: Path) -> str:
    from tlsrpt_tui.core.checks.tlsrpt_record import tlsrpt_findings

    esc = b.HOSTILE_TEXT
    txts = [
        "v=TLSRPTv1; rua=" + ",".join(f"mailto:r{i}@example.org" for i in range(10_000)),
        "v=TLSRPTv1;" * 10_000,
        "v=TLSRPTv1; rua=mailto:a@b" + "\x00" * 65_000,
        f"v=TLSRPTv1; rua=mailto:\"{esc}\"@example.org",
        f"v=TLSRPTv1; rua=https://example.org/{esc}",
        "v=TLSRPTv1; rua=https://example.org/\x1b[2J\x9b31m\x07",
        f"v=TLSRPTv1; rua={esc}; {esc}={esc}",
        f"v=tlsrptv1 {esc}",
        os.urandom(4096).decode("latin-1"),
        "v=TLSRPTv1; rua=https://[::1:99999999999]/",
        "v=TLSRPTv1; rua=https://example.org:99999999999999/",
    ]
    with measured():
        n = 0
        for t in txts:
            findings, _rec = tlsrpt_findings("example.org", [t])
            check_findings(findings)
            n += len(findings)
        findings, _ = tlsrpt_findings("example.org", txts)
        check_findings(findings)
    return f"{len(txts) + 1} record sets, {n + len(findings)} findings, all one-line and clean"


@case("records", "sts-txt-garbage", "MTA-STS TXT: huge, binary, markup, escapes, odd ids")
def _(tmp: Path) -> str:
    from tlsrpt_tui.core.checks.sts_record import sts_record_findings

    esc = b.HOSTILE_TEXT
    txts = ["v=STSv1; id=" + "a" * 100_000, "v=STSv1;" * 10_000, f"v=STSv1; id={esc}",
            f"v=STSv1; id=1; {esc}={esc}", f"v=stsv1 {esc}", os.urandom(4096).decode("latin-1"),
            "v=STSv1; id=\x1b[2J", "v=STSv1\x00; id=1"]
    with measured():
        n = 0
        for t in txts:
            findings, _rec = sts_record_findings("example.org", [t])
            check_findings(findings)
            n += len(findings)
    return f"{len(txts)} records, {n} findings, all one-line and clean"


@case("records", "policy-file-garbage", "MTA-STS policy files: 1 MiB binary, 100k lines, escapes")
def _(tmp: Path) -> str:
    from tlsrpt_tui.core.checks.sts_policy import check_policy

    esc = b.HOSTILE_TEXT
    texts = [
        os.urandom(b.MiB).decode("latin-1"),
        "version: STSv1\nmode: enforce\nmax_age: 86400\n" + "mx: a.example.org\n" * 100_000,
        "x\n" * 100_000,
        f"version: STSv1\nmode: {esc}\nmax_age: {esc}\nmx: {esc}\n{esc}: {esc}\n",
        "version: STSv1\r\rmode: enforce\nmax_age: 9" + "9" * 5000 + "\nmx: *.*.example\n",
        "version: STSv1\nmode: enforce\nmax_age: ١٢٣\nmx: [::1]\nmx: 1.2.3.4\n",
        "\x00" * 100_000,
    ]
    with measured():
        n = 0
        for t in texts:
            findings, _policy = check_policy(t, f"https://mta-sts.example.org/{esc}")
            check_findings(findings)
            n += len(findings)
    return f"{len(texts)} policy files, {n} findings, all one-line and clean"


@case("records", "tlsa-garbage", "TLSA RRsets: odd usage/selector/type, 64 KiB data, 1000 records")
def _(tmp: Path) -> str:
    from tlsrpt_tui.core.checks.dane import TlsaRecord, tlsa_findings

    records = [TlsaRecord(u, s, m, os.urandom(n)) for u, s, m, n in
               [(255, 255, 255, 0), (3, 1, 1, 31), (2, 0, 0, 65_000), (0, 0, 1, 32), (3, 9, 1, 32),
                (1, 1, 2, 64)]]
    records += [TlsaRecord(3, 1, 1, os.urandom(32)) for _ in range(1000)]
    with measured():
        n = 0
        for state in ("secure", "insecure", "none", "bogus", "failed"):
            findings = tlsa_findings("mx.example.org", state, records, b.HOSTILE_TEXT)
            n += len(findings)
            for f in findings:
                assert "\n" not in f.message
    return f"5 lookup states x {len(records)} records: {n} findings, one line each"


def _certs():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)

    def make(cn: str, sans: list[str]) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
        )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
            )
        return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)

    return make


@case("certs", "garbage-der", "presented chains of random bytes, truncated and empty DER")
def _(tmp: Path) -> str:
    from tlsrpt_tui.core.checks.tls_verify import ProbeResult, verify_presented

    make = _certs()
    good = make("mx.example.org", ["mx.example.org"])
    chains = [(os.urandom(2000),), (b"",), (good[: len(good) // 2],), (good + b"junk",),
              (good, os.urandom(100)), (b"\x30\x82\xff\xff" + os.urandom(10),),
              (b"\x30" * 100_000,)]
    now = dt.datetime.now(dt.UTC)
    with measured():
        out = []
        for chain in chains:
            res = verify_presented(ProbeResult("mx.example.org", "192.0.2.1", chain=chain), [], now)
            check_findings(res.findings)
            assert res.findings
            out.append(res.findings[0].code)
    return ", ".join(sorted(set(out)))


@case("certs", "broken-certs", "certificates with an invalid EC point, unknown key OID, version 2")
def _(tmp: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from tlsrpt_tui.core.checks.tls_verify import ProbeResult, verify_presented

    make = _certs()
    good = make("mx.example.org", ["mx.example.org"])
    from cryptography import x509

    point = x509.load_der_x509_certificate(good).public_key()
    assert isinstance(point, ec.EllipticCurvePublicKey)
    raw = point.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    bad_point = good.replace(raw, b"\x04" + b"\x01" * (len(raw) - 1))
    ec_oid = bytes.fromhex("06072a8648ce3d0201")
    bad_oid = good.replace(ec_oid, bytes.fromhex("06072a8648ce3d0209"))
    i = good.find(bytes.fromhex("a003020102"))  # [0] version v3
    bad_version = good[:i] + bytes.fromhex("a003020101") + good[i + 5 :]  # "v2" (found by fuzzing)
    assert bad_point != good and bad_oid != good and i > 0
    now = dt.datetime.now(dt.UTC)
    out = []
    with measured():
        for der in (bad_point, bad_oid, bad_version):
            probe = ProbeResult("mx.example.org", "192.0.2.1", chain=(der,))
            res = verify_presented(probe, [], now)
            check_findings(res.findings)
            assert [f.code for f in res.findings] == ["tls.handshake-failed"], res.findings
            out.append(res.findings[0].message)
    return "; ".join(m[:90] for m in out)


@case("certs", "huge-san-list", "a certificate with 10,000 SANs, some with markup and escapes")
def _(tmp: Path) -> str:
    from tlsrpt_tui.core.checks.tls_verify import ProbeResult, verify_presented

    make = _certs()
    sans = [f"h{i}.example.org" for i in range(10_000)] + [
        "[bold red]X[/]\x1b]52;c;ZXZpbA==\x07\x1b[2J.example", "[bold]x[/].example", "\x1b[2J.x"
    ]  # DNSName takes ASCII only; anything else a CA signed arrives the same way
    der = make("[b]cn\x1b[2J\x9b", sans)
    now = dt.datetime.now(dt.UTC)
    with measured():
        from cryptography import x509

    root = x509.load_der_x509_certificate(der)
    res = verify_presented(ProbeResult("mx.example.org", "192.0.2.1", chain=(der,)), [root], now)
    codes = sorted({f.code for f in res.findings})
    for f in res.findings:
        assert "\n" not in f.message
        bad = {c for c in f.message if c in b.CONTROL_CHARS}
        assert not bad, f"{f.code}: {bad!r}"
    return "findings " + ", ".join(codes)


# ---------------------------------------------------------------------------------------------
# Sources: the file system side (files, mbox, Maildir, trees)


def _inputs(paths: list[Path]) -> list:
    from tlsrpt_tui.core.model import ParsedInput, RawInput
    from tlsrpt_tui.service.sources import iter_inputs

    with measured():
        out = list(iter_inputs(paths))
    for item in out:
        assert isinstance(item, RawInput | ParsedInput)
        if isinstance(item, ParsedInput):
            check_line(item.error)
    return out


@case("sources", "fifo-and-devices", "a named pipe and /dev/zero given as inputs (must not block)")
def _(tmp: Path) -> str:
    fifo = tmp / "pipe"
    os.mkfifo(fifo)
    items = _inputs([fifo, Path("/dev/zero"), tmp])
    errors = [i.error for i in items]
    assert errors == ["not a regular file"] * 3, errors
    return "rejected: not a regular file (x3: FIFO, /dev/zero, the FIFO found in a directory)"


@case("sources", "deep-directory-tree", "a report file 1,500 directories deep (3 KB of path)")
def _(tmp: Path) -> str:
    here = os.getcwd()
    os.chdir(tmp)
    try:
        for _ in range(1500):  # relative steps: the absolute path nears PATH_MAX
            os.mkdir("a")
            os.chdir("a")
        Path("r.json").write_bytes(REPORT)
    finally:
        os.chdir(here)
    items = _inputs([tmp])
    assert len(items) == 1 and "nested more than" in items[0].error, items
    return f"rejected: {items[0].error} (was a RecursionError that stopped the import)"


@case("sources", "symlink-loops", "directories that link to themselves and to each other")
def _(tmp: Path) -> str:
    (tmp / "a").mkdir()
    (tmp / "a" / "loop").symlink_to(tmp / "a")
    (tmp / "a" / "up").symlink_to(tmp)
    (tmp / "self").symlink_to(tmp / "self")
    (tmp / "a" / "r.json").write_bytes(REPORT)
    items = _inputs([tmp])
    raws = [i for i in items if not hasattr(i, "status")]
    assert len(raws) == 1, len(raws)
    return f"{len(items)} items; 1 report file read once; the self-link is rejected"


@case("sources", "hostile-file-names", "file names with ESC, BEL, newline, C1 and invalid UTF-8")
def _(tmp: Path) -> str:
    names = [b"a\x1b[2Jb.json", b"c\x07\nd.json", b"e\xc2\x9bf.json", b"g\xff\xfeh.json"]
    for n in names:
        (tmp / os.fsdecode(n)).write_bytes(b"{broken")
    items = _inputs([tmp])
    assert len(items) == 4
    return f"{len(items)} raw inputs named by their paths (the CLI must neutralise the names)"


@case("sources", "mbox-huge-line", "an mbox holding one 60 MiB line (over the message limit)")
def _(tmp: Path) -> str:
    p = tmp / "huge.mbox"
    with open(p, "wb") as fh:
        fh.write(b"From x\nSubject: a\n\n")
        for _ in range(60):
            fh.write(b"A" * b.MiB)
        fh.write(b"\nFrom y\nSubject: b\n\nbody\n")
    items = _inputs([p])
    assert len(items) == 2 and "exceeds" in items[0].error, items[:1]
    return f"first message rejected ({items[0].error}); the next one still read"


@case("sources", "mbox-100k-messages", "an mbox of 100,000 tiny messages")
def _(tmp: Path) -> str:
    p = tmp / "many.mbox"
    p.write_bytes(b"From x\nSubject: a\n\nb\n\n" * 100_000)
    n = sum(1 for _ in _inputs([p]))
    assert n == 100_000, n
    return f"{n} messages, streamed"


@case("sources", "maildir-garbage", "a Maildir of random and empty files with a sub-folder loop")
def _(tmp: Path) -> str:
    md = tmp / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i in range(50):
        (md / "new" / f"{i}").write_bytes(os.urandom(i * 100))
    (md / "cur" / "dir").mkdir()
    (md / ".Sub").symlink_to(md)
    items = _inputs([md])
    return f"{len(items)} inputs, no crash, no loop"
