"""The seed's three tables (Overview, Policy Summary, Failures): row building and formatting.

Pure code: rows are built from model objects (or from the plain values the store keeps) and
rendered as aligned text, CSV or JSON. The rules follow ``spec/report-format.md`` ("How the
seed's tables read a report"), so the CLI and the TUI show the same cells.

Report fields are untrusted text. The ``table`` format is for a terminal, so control characters
(ESC, BEL, C0/C1, bidi overrides) are stripped from its cells and a report cannot drive the
terminal; CSV and JSON keep the data exact and rely on their own quoting/escaping.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import ClassVar

from tlsrpt_tui.core.model import FailureDetail, Policy, PolicyType, Report
from tlsrpt_tui.core.signature import FAIL_MARK

FORMATS = ("table", "csv", "json")


# --------------------------------------------------------------------------------------------
# Cell rules


def report_date(start: datetime | str) -> str:
    """Date column: the report's start date in UTC, YYYY-MM-DD."""
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return start.astimezone(UTC).date().isoformat()


def type_label(policy_type: PolicyType | str, policy_type_raw: str | None = None) -> str:
    """``STS``, ``TLSA``, ``NO-POLICY-FOUND``; unknown types show the sender's spelling."""
    value = str(policy_type)
    if value == PolicyType.OTHER and policy_type_raw:
        value = policy_type_raw
    return value.upper()


def policy_types_cell(labels: Iterable[str]) -> str:
    """Overview's Policy Types: upper-case, in the report's order, comma-joined."""
    return ", ".join(labels)


def policy_details(
    policy_type: PolicyType | str, policy_strings: Sequence[str], mx_hosts: Sequence[str]
) -> str:
    """Policy Details cell.

    STS: ``mode=enforce; mx=a, b; max_age=1209600`` from the policy-string lines (mx joined with
    ", "), falling back to mx-host when the policy-string names no mx. TLSA: ``N TLSA records
    published``. no-policy-found: ``no policy found``.
    """
    kind = str(policy_type)
    if kind == PolicyType.TLSA:
        n = len(policy_strings)
        return f"{n} TLSA record{'' if n == 1 else 's'} published"
    if kind == PolicyType.NO_POLICY_FOUND:
        return "no policy found"
    if kind == PolicyType.STS:
        mode: str | None = None
        max_age: str | None = None
        mxs: list[str] = []
        for line in policy_strings:
            key, sep, value = line.partition(":")
            if not sep:
                continue
            key = key.strip().lower()
            value = value.strip()
            if key == "mode":
                mode = value
            elif key == "mx":
                mxs.append(value)
            elif key == "max_age":
                max_age = value
        if not mxs:
            mxs = [m for m in mx_hosts if m]
        parts = []
        if mode is not None:
            parts.append(f"mode={mode}")
        if mxs:
            parts.append(f"mx={', '.join(mxs)}")
        if max_age is not None:
            parts.append(f"max_age={max_age}")
        return "; ".join(parts) if parts else "no policy string"
    return "; ".join(policy_strings)


# --------------------------------------------------------------------------------------------
# Rows

#: Field metadata of a row's keys: data for navigation, not a column of the table.
_KEY = {"column": False}


@dataclass(frozen=True, slots=True)
class OverviewRow:
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "Date", "Organization", "Report ID", "Contact", "Policy Types",
        "Successful Sessions", "Failed Sessions",
    )
    date: str
    organization: str
    report_id: str
    contact: str
    policy_types: str
    successful: int
    failed: int
    #: Not a column (never rendered, exported or compared): the store's report id, so that a
    #: front can open the report a row stands for. None for rows built from a model Report.
    report_pk: int | None = field(default=None, compare=False, repr=False, metadata=_KEY)
    #: Not a column either (the seed's table has none): the report's policy domains,
    #: comma-joined, which a front shows so that a row says which domain it is about.
    policy_domains: str = field(default="", compare=False, repr=False, metadata=_KEY)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "Date", "Organization", "Policy Domain", "Policy Type", "Policy Details",
        "Successful Sessions", "Failed Sessions",
    )
    date: str
    organization: str
    policy_domain: str
    policy_type: str
    policy_details: str
    successful: int
    failed: int
    #: Not columns: the report's store id and the policy's index in it (see OverviewRow).
    report_pk: int | None = field(default=None, compare=False, repr=False, metadata=_KEY)
    policy_index: int | None = field(default=None, compare=False, repr=False, metadata=_KEY)


@dataclass(frozen=True, slots=True)
class FailureRow:
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "Date", "Organization", "Policy Domain", "Policy Type", "Result Type",
        "Sending MTA IP", "Receiving MX Hostname", "Receiving IP", "Failed Sessions",
        "Failure Reason Code",
    )
    date: str
    organization: str
    policy_domain: str
    policy_type: str
    result_type: str
    sending_mta_ip: str
    receiving_mx_hostname: str
    receiving_ip: str
    failed: int
    failure_reason_code: str
    #: Not columns: where the detail is (its report, the policy's and its own index there).
    report_pk: int | None = field(default=None, compare=False, repr=False, metadata=_KEY)
    policy_index: int | None = field(default=None, compare=False, repr=False, metadata=_KEY)
    detail_index: int | None = field(default=None, compare=False, repr=False, metadata=_KEY)


Row = OverviewRow | PolicyRow | FailureRow
#: Which kind of row each table holds (the CLI command name → row class).
ROW_TYPES: dict[str, type[OverviewRow] | type[PolicyRow] | type[FailureRow]] = {
    "overview": OverviewRow,
    "policies": PolicyRow,
    "failures": FailureRow,
}


def overview_row(report: Report) -> OverviewRow:
    return OverviewRow(
        date=report_date(report.start),
        organization=report.organization,
        report_id=report.report_id,
        contact=report.contact or "",
        policy_types=policy_types_cell(
            type_label(p.policy_type, p.policy_type_raw) for p in report.policies
        ),
        successful=report.successful_sessions,
        failed=report.failed_sessions,
    )


def policy_row(report: Report, policy: Policy) -> PolicyRow:
    return PolicyRow(
        date=report_date(report.start),
        organization=report.organization,
        policy_domain=policy.policy_domain,
        policy_type=type_label(policy.policy_type, policy.policy_type_raw),
        policy_details=policy_details(policy.policy_type, policy.policy_strings, policy.mx_hosts),
        successful=policy.successful_sessions,
        failed=policy.failed_sessions,
    )


def failure_row(report: Report, policy: Policy, detail: FailureDetail) -> FailureRow:
    return FailureRow(
        date=report_date(report.start),
        organization=report.organization,
        policy_domain=policy.policy_domain,
        policy_type=type_label(policy.policy_type, policy.policy_type_raw),
        result_type=detail.result_type,
        sending_mta_ip=detail.sending_mta_ip or "",
        receiving_mx_hostname=detail.receiving_mx_hostname or "",
        receiving_ip=detail.receiving_ip or "",
        failed=detail.failed_session_count,
        failure_reason_code=detail.failure_reason_code or "",
    )


def policy_rows(report: Report) -> list[PolicyRow]:
    return [policy_row(report, p) for p in report.policies]


def failure_rows(report: Report) -> list[FailureRow]:
    return [failure_row(report, p, d) for p in report.policies for d in p.failure_details]


_COLUMN_FIELDS: dict[type, tuple[str, ...]] = {}


def row_values(row: Row) -> tuple[str | int, ...]:
    """The row's cells in COLUMNS order (key fields such as report_pk are left out)."""
    names = _COLUMN_FIELDS.get(type(row))
    if names is None:
        names = tuple(f.name for f in fields(row) if f.metadata.get("column", True))
        _COLUMN_FIELDS[type(row)] = names
    return tuple(getattr(row, name) for name in names)


def row_dict(row: Row) -> dict[str, str | int]:
    """The row keyed by its column names (the JSON format)."""
    return dict(zip(row.COLUMNS, row_values(row), strict=True))


# --------------------------------------------------------------------------------------------
# Totals


@dataclass(slots=True)
class Totals:
    successful: int = 0
    failed: int = 0
    forged: int = 0  # rows left out: their report's mail failed DKIM

    def add(self, row: Row, forged: Container[int] = frozenset()) -> bool:
        """Count the row, unless its report is in ``forged`` (then only counted as such:
        a forged report's figures are not real, RFC 8460 §3). True when it was forged."""
        if getattr(row, "report_pk", None) in forged:
            self.forged += 1
            return True
        self.successful += getattr(row, "successful", 0)
        self.failed += row.failed
        return False

    def forged_note(self) -> str:
        """The line under a Total that leaves forged rows out ("" when there are none)."""
        if not self.forged:
            return ""
        return (f"{FORGED_MARK} {self.forged} row(s) of reports whose mail failed DKIM (forged "
                "or altered) are listed but not counted in the Total")


#: Marks a row of a report whose mail failed DKIM (the inbox's signature mark for "fail").
FORGED_MARK = FAIL_MARK


# --------------------------------------------------------------------------------------------
# Terminal safety

_STRIP_EXTRA = {
    "\u200e", "\u200f",  # LRM, RLM
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # bidi embeddings/overrides
    "\u2066", "\u2067", "\u2068", "\u2069",  # bidi isolates
}
_WHITESPACE_CONTROLS = {"\t": " ", "\n": " ", "\r": " "}


def terminal_safe(text: str) -> str:
    """Remove what a terminal would interpret: C0/C1 controls (ESC, BEL, OSC…), DEL, bidi
    overrides. Tabs and line breaks become spaces so one cell stays on one line."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in _WHITESPACE_CONTROLS:
            out.append(" ")
            continue
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or ch in _STRIP_EXTRA:
            continue
        out.append(ch)
    return "".join(out)


def display_width(text: str) -> int:
    """Terminal columns of a (safe) text: wide East Asian characters count 2, combining 0."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


# --------------------------------------------------------------------------------------------
# Rendering


def _is_count(column: str) -> bool:
    return column.endswith("Sessions")


def render_table(rows: Iterable[Row], row_type: type[Row],
                 forged: Container[int] = frozenset()) -> Iterator[str]:
    """Aligned text lines: header, rule, rows, rule, a Total row summing the count columns.

    Rows of reports in ``forged`` (report pks whose mail failed DKIM) are marked ✗ before their
    first cell and left out of the Total, which a line then says.
    Needs every row to size the columns, so it holds the (already filtered) rows in memory.
    """
    columns = row_type.COLUMNS
    totals = Totals()
    cells: list[list[str]] = []
    for row in rows:
        line = [terminal_safe(str(v)) for v in row_values(row)]
        if totals.add(row, forged):
            line[0] = f"{FORGED_MARK} {line[0]}"
        cells.append(line)
    total_cells = []
    for i, col in enumerate(columns):
        if i == 0:
            total_cells.append("Total")
        elif col == "Successful Sessions":
            total_cells.append(str(totals.successful))
        elif col == "Failed Sessions":
            total_cells.append(str(totals.failed))
        else:
            total_cells.append("")
    widths = [display_width(c) for c in columns]
    for line in [*cells, total_cells]:
        for i, c in enumerate(line):
            widths[i] = max(widths[i], display_width(c))

    def fmt(line: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(line):
            pad = " " * (widths[i] - display_width(c))
            out.append(pad + c if _is_count(columns[i]) else c + pad)
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    yield fmt(columns)
    yield rule
    for line in cells:
        yield fmt(line)
    yield rule
    yield fmt(total_cells)
    if totals.forged:
        yield totals.forged_note()


def render_csv(rows: Iterable[Row], row_type: type[Row]) -> Iterator[str]:
    """CSV text chunks: a header line, then one line per row (no Total row); data kept exact."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(row_type.COLUMNS)
    yield buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow(row_values(row))
        yield buf.getvalue()


def render_json(rows: Iterable[Row], row_type: type[Row],
                forged: Container[int] = frozenset()) -> Iterator[str]:
    """``{"rows": [...], "total": {"successful": N, "failed": N}}`` streamed in chunks.

    Rows are objects keyed by the column names. The total has the same two keys for every
    table; failure rows count failed sessions only, so their ``successful`` total is 0. Rows
    of reports in ``forged`` are listed with ``"forged": true`` and left out of the total,
    which then says how many with ``"forged_not_counted"``.
    """
    totals = Totals()
    yield '{"rows": ['
    first = True
    for row in rows:
        data = row_dict(row)
        if totals.add(row, forged):
            data["forged"] = True
        yield ("\n  " if first else ",\n  ") + json.dumps(data, ensure_ascii=False)
        first = False
    total: dict[str, int] = {"successful": totals.successful, "failed": totals.failed}
    if totals.forged:
        total["forged_not_counted"] = totals.forged
    yield ("\n" if not first else "") + '], "total": ' + json.dumps(total) + "}\n"


def render(rows: Iterable[Row], row_type: type[Row], fmt: str,
           forged: Container[int] = frozenset()) -> Iterator[str]:
    """Text chunks of the table in ``fmt`` (one of FORMATS); ``table`` chunks are lines.
    ``forged``: report pks whose mail failed DKIM (marked, not in the totals; CSV keeps every
    row's data exact and has no total)."""
    if fmt == "table":
        return (line + "\n" for line in render_table(rows, row_type, forged))
    if fmt == "csv":
        return render_csv(rows, row_type)
    if fmt == "json":
        return render_json(rows, row_type, forged)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def parse_date(text: str) -> date:
    """YYYY-MM-DD → date, with a clear error for anything else."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid date {text!r}: expected YYYY-MM-DD") from None


def render_columns(columns: Sequence[str], rows: Iterable[Sequence[object]],
                   fmt: str) -> Iterator[str]:
    """Arbitrary columns (the inbox export) as text chunks, streamed: CSV with a header line,
    or JSON ``{"rows": [{column: value, ...}, ...]}``."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        yield buf.getvalue()
        for row in rows:
            buf.seek(0)
            buf.truncate()
            writer.writerow(row)
            yield buf.getvalue()
    elif fmt == "json":
        yield '{"rows": ['
        first = True
        for row in rows:
            item = dict(zip(columns, row, strict=True))
            yield ("\n " if first else ",\n ") + json.dumps(item, ensure_ascii=False)
            first = False
        yield ("\n" if not first else "") + "]}\n"
    else:
        raise ValueError(f"unknown export format {fmt!r}")

