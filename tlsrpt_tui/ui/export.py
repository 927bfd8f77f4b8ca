"""Export of the current table to CSV or JSON, in the same formats as the CLI.

Each screen that can export offers an :class:`ExportSource`: a file-name stem and a function
that renders its rows in a format. The tables use ``core.tables.render`` so a TUI export and
``tlsrpt-tui overview --format csv`` produce the same bytes; exact data, not the screen's
truncated cells (CSV and JSON quote/escape it themselves).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
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
    stem: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]] | Callable[[], Iterable[Sequence[object]]],
) -> ExportSource:
    """Export arbitrary columns (the inbox): CSV with a header, JSON as a list of objects.
    A callable is re-run per export, so the file holds the whole result, not what was loaded
    on screen."""

    def render(fmt: str) -> Iterator[str]:
        data = rows() if callable(rows) else rows
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(data)
            yield buf.getvalue()
        elif fmt == "json":
            items = [dict(zip(columns, r, strict=True)) for r in data]
            yield json.dumps({"rows": items}, ensure_ascii=False, indent=1) + "\n"
        else:
            raise ValueError(f"unknown export format {fmt!r}")

    return ExportSource(stem, render)


def format_of(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{path}: unknown export format; use a .csv or .json file name")
    return fmt


def write_export(source: ExportSource, path: Path, *, overwrite: bool = False) -> int:
    """Write the export to `path` (format from its suffix); returns the bytes written.

    An existing file is replaced only with ``overwrite`` (FileExistsError otherwise), and then
    through a temporary file renamed over it, so a failed export never leaves half a file."""
    fmt = format_of(path)
    data = "".join(source.render(fmt)).encode("utf-8")
    if not overwrite:
        with path.open("xb") as out:  # "x": fails if the file appeared meanwhile
            out.write(data)
        return len(data)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(data)


_PATH_ERRORS = {
    errno.ENOENT: "the folder {parent} does not exist",
    errno.ENOTDIR: "a part of {parent} is a file, not a folder",
    errno.EACCES: "no permission to write in {parent}",
    errno.EPERM: "no permission to write in {parent}",
    errno.EISDIR: "{path} is a folder; give a file name ending in .csv or .json",
    errno.EEXIST: "{path} already exists",
    errno.ENOSPC: "the disk holding {parent} is full",
    errno.EROFS: "{parent} is on a read-only file system",
    errno.ENAMETOOLONG: "the file name is too long",
}


def describe_path_error(exc: OSError | ValueError, path: Path) -> str:
    """One sentence for a failed export, in words instead of ``[Errno 2] …``."""
    if isinstance(exc, ValueError):
        return str(exc)
    parent = path.parent if str(path.parent) else Path(".")
    template = _PATH_ERRORS.get(exc.errno or 0)
    if template is None:
        return f"cannot write {path}: {exc.strerror or exc}"
    return f"cannot write {path}: " + template.format(path=path, parent=parent)
