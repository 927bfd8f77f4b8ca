"""Export of the current table to CSV or JSON, in the same formats as the CLI.

Each screen that can export offers an :class:`ExportSource`: a file-name stem and an async
``write(path, fmt, overwrite)`` that writes the file off the event loop and returns its size.
The inbox and the two big tables export through the injected service (every matching row,
streamed by its thread, the tables in the same bytes as ``tlsrpt-tui overview --format
csv``); the small tables already on screen are rendered with ``core.tables.render`` and
written by a thread. Exact data, not the screen's truncated cells (CSV and JSON quote/escape
it themselves). An existing file is replaced only when asked (``overwrite``), through a
temporary file, so a failed export never leaves half a file.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tlsrpt_tui.core import tables
from tlsrpt_tui.service.backend import write_chunks

EXPORT_FORMATS = ("csv", "json")

#: write(path, fmt, overwrite) -> bytes written; fmt is "csv" or "json" (the path's suffix)
Write = Callable[[Path, str, bool], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class ExportSource:
    stem: str
    write: Write


def rendered_export(stem: str, render: Callable[[str], Iterator[str]]) -> ExportSource:
    """An export of data already in memory: render(fmt) -> text chunks, written by a thread."""

    async def write(path: Path, fmt: str, overwrite: bool) -> int:
        return await asyncio.to_thread(lambda: write_chunks(render(fmt), path, overwrite))

    return ExportSource(stem, write)


def rows_export(stem: str, rows: Iterable[tables.Row], row_type: type[tables.Row]) -> ExportSource:
    """Export rows of one of the three tables that the screen already holds."""
    data = list(rows)
    return rendered_export(stem, lambda fmt: tables.render(data, row_type, fmt))


def format_of(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{path}: unknown export format; use a .csv or .json file name")
    return fmt


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
