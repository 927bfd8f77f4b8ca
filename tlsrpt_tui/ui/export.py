"""Export of the current table to CSV or JSON, in the same formats as the CLI.

Each screen that can export offers an :class:`ExportSource`: a file-name stem and a function
that renders its rows in a format. The tables use ``core.tables.render`` so a TUI export and
``tlsrpt-tui overview --format csv`` produce the same bytes; exact data, not the screen's
truncated cells (CSV and JSON quote/escape it themselves).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tlsrpt_tui.core import tables

EXPORT_FORMATS = ("csv", "json")


@dataclass(frozen=True, slots=True)
class ExportSource:
    stem: str
    render: Callable[[str], Iterator[str]]  # fmt ("csv" | "json") -> text chunks


def rows_export(stem: str, rows: Iterable[tables.Row] | Callable[[], Iterable[tables.Row]],
                row_type: type[tables.Row]) -> ExportSource:
    """Export rows of one of the three tables (a callable is re-run per export: fresh data)."""

    def render(fmt: str) -> Iterator[str]:
        data = rows() if callable(rows) else rows
        return tables.render(data, row_type, fmt)

    return ExportSource(stem, render)


def plain_export(
    stem: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> ExportSource:
    """Export arbitrary columns (the inbox): CSV with a header, JSON as a list of objects."""

    def render(fmt: str) -> Iterator[str]:
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
            yield buf.getvalue()
        elif fmt == "json":
            items = [dict(zip(columns, r, strict=True)) for r in rows]
            yield json.dumps({"rows": items}, ensure_ascii=False, indent=1) + "\n"
        else:
            raise ValueError(f"unknown export format {fmt!r}")

    return ExportSource(stem, render)


def format_of(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{path}: unknown export format; use a .csv or .json file name")
    return fmt


def write_export(source: ExportSource, path: Path) -> int:
    """Write the export to `path` (format from its suffix); returns the bytes written."""
    fmt = format_of(path)
    data = "".join(source.render(fmt)).encode("utf-8")
    path.write_bytes(data)
    return len(data)
