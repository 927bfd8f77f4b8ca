"""Enumerate report inputs on the file system: files, mboxes, Maildirs, directory trees.

This is the I/O half of the parser (core/parse.py is pure): it turns paths into `RawInput`s,
one per message or file, with stable source names (``path``, ``path[3]`` for the 4th message
of an mbox) so every later error line points at something the user can find. Unreadable paths
become REJECTED `ParsedInput`s instead of exceptions, so one bad path never stops an import.

mboxes are streamed: only the current message is held in memory, so a 2 GB mbox costs about one
message of RAM. A message or file over `Limits.max_message_bytes` is rejected without being
read into memory.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from tlsrpt_tui.core.model import InputStatus, Origin, ParsedInput, RawInput
from tlsrpt_tui.core.parse import DEFAULT_LIMITS, Limits

__all__ = ["iter_inputs", "iter_mbox"]

_CHUNK = 1024 * 1024
_FROM = b"From "
_MBOXRD_ESCAPE = re.compile(rb"^>(>*From )", re.MULTILINE)


def _rejected(source: str, why: str) -> ParsedInput:
    return ParsedInput(source, InputStatus.REJECTED, error=why)


def _size_text(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n} bytes"


def _os_reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def iter_inputs(
    paths: Iterable[Path | str], limits: Limits = DEFAULT_LIMITS
) -> Iterator[RawInput | ParsedInput]:
    """One RawInput per input found under `paths`, in a deterministic order.

    A path may be a file (mail, JSON, gzip, zip, base64), an mbox, a Maildir or a directory
    tree of any of these (walked recursively, entries sorted by name). A path that cannot be
    read yields a REJECTED ParsedInput naming it and the reason.
    """
    for p in paths:
        yield from _iter_path(Path(p), limits, set())


#: Directory levels walked below a path given: each level costs a few generator frames, so a
#: tree nested 1,500 deep hit Python's recursion limit and stopped the whole import.
MAX_DIR_DEPTH = 64


def _iter_path(
    path: Path, limits: Limits, seen: set[tuple[int, int]], depth: int = 0
) -> Iterator[RawInput | ParsedInput]:
    source = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        yield _rejected(source, "no such file or directory")
        return
    except OSError as e:
        yield _rejected(source, _os_reason(e).lower())
        return
    if stat.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in seen:  # a symlink loop
            return
        seen.add(key)
        if depth > MAX_DIR_DEPTH:
            yield _rejected(source, f"directory nested more than {MAX_DIR_DEPTH} levels deep")
            return
        yield from _iter_dir(path, limits, seen, depth)
        return
    if not stat.S_ISREG(st.st_mode):
        yield _rejected(source, "not a regular file")
        return
    yield from _iter_file(path, st.st_size, limits)


def _iter_dir(
    path: Path, limits: Limits, seen: set[tuple[int, int]], depth: int = 0
) -> Iterator[RawInput | ParsedInput]:
    try:
        entries = sorted(os.listdir(path))
    except OSError as e:
        yield _rejected(str(path), _os_reason(e).lower())
        return
    if _is_maildir(path):
        # Maildir: messages live in cur/ and new/ (tmp/ holds deliveries in progress);
        # Maildir++ sub-folders (".Sent", ".Reports") are Maildirs inside it.
        for sub in ("cur", "new"):
            yield from _iter_dir_files(path / sub, limits)
        for name in entries:
            child = path / name
            if name.startswith(".") and child.is_dir() and _is_maildir(child):
                yield from _iter_path(child, limits, seen, depth + 1)
        return
    prefix = _child_prefix(path)
    for name in entries:
        if name.startswith("."):
            # Hidden entries of a plain directory (.git, .DS_Store, editor swap files) are not
            # inputs; a hidden file named on the command line still is.
            continue
        child = prefix + name
        size = _regular_size(child)
        if size is None:  # a directory, a link to one, an error: the general path says what
            yield from _iter_path(Path(child), limits, seen, depth + 1)
        else:
            yield from _iter_file(child, size, limits)


def _child_prefix(path: Path) -> str:
    """What ``str(path / name)`` puts before a directory entry's ``name``.

    Why strings: a directory of 10,000 report files made 10,000 ``Path`` objects, joined and
    turned back into text (~8 µs a file, a fifth of the walk) in the process that also runs
    the SQLite writer."""
    base = str(path)
    if base == ".":
        return ""  # Path(".") / "a" is "a"
    return base if base.endswith("/") else base + "/"


def _regular_size(path: str) -> int | None:
    """The size of a regular file (links followed), None for anything else or an error.

    Why: a directory of 10,000 report files went through three generator levels and a
    ``Path.stat`` each; this is one ``os.stat`` for the common case."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _iter_dir_files(path: Path, limits: Limits) -> Iterator[RawInput | ParsedInput]:
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        yield _rejected(str(path), _os_reason(e).lower())
        return
    for name in names:
        child = path / name
        try:
            st = child.stat()
        except OSError as e:
            yield _rejected(str(child), _os_reason(e).lower())
            continue
        if stat.S_ISREG(st.st_mode):
            yield from _iter_file(child, st.st_size, limits)


#: Files up to this size are read with one unbuffered read (most report files: a few KiB);
#: larger ones are looked at first (an mbox is streamed, an oversized file is not read).
_ONE_READ = 256 * 1024


def _iter_file(path: Path | str, size: int, limits: Limits
               ) -> Iterator[RawInput | ParsedInput]:
    source = str(path)
    if size < _ONE_READ and size < limits.max_message_bytes:
        data = _read_small(source, size)
        if isinstance(data, ParsedInput):
            yield data
        elif data is None or data.startswith(_FROM):  # it grew, or it is an mbox
            yield from _iter_file_streamed(path, source, size, limits)
        else:
            yield RawInput(source, data, Origin(kind="file", path=source))
        return
    yield from _iter_file_streamed(path, source, size, limits)


def _read_small(source: str, size: int) -> bytes | ParsedInput | None:
    """A small file's bytes in one read (no buffer copy); None when it grew past ``size``
    since it was looked at (the general path then reads it again, up to the limit)."""
    try:
        # os.open/os.read, not open(): no file object, and no fstat of its own (the caller
        # has just looked at the file) in the process that also runs the writer
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, size + 1)
            # A short read: read on to the end. Not once more when all ``size`` bytes came: a
            # file that grew before the read gave size + 1 bytes, one growing after it is
            # read as it was, as by any read (that extra read was a system call per file).
            while len(data) < size:
                more = os.read(fd, size + 1 - len(data))
                if not more:
                    break
                data += more
        finally:
            os.close(fd)
    except OSError as e:
        return _rejected(source, _os_reason(e).lower())
    return None if len(data) > size else data


def _iter_file_streamed(path: Path | str, source: str, size: int,
                        limits: Limits) -> Iterator[RawInput | ParsedInput]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, also on early generator exit
    except OSError as e:
        yield _rejected(source, _os_reason(e).lower())
        return
    with fh:
        try:
            head = fh.read(5)
        except OSError as e:
            yield _rejected(source, _os_reason(e).lower())
            return
        if head == _FROM:
            fh.seek(0)
            yield from iter_mbox(fh, source, limits)
            return
        if size > limits.max_message_bytes:
            yield _rejected(
                source,
                f"file size {size} bytes exceeds {_size_text(limits.max_message_bytes)} limit",
            )
            return
        try:
            # One byte more than the size stat gave (a file that grew shows it); not the
            # limit + 1 at once: a buffered read allocates what it is asked for (the limit,
            # 50 MiB by default) before it shrinks to what was read, ~60 µs a file.
            want = max(1, size + 1 - len(head))
            rest = fh.read(want)
            if len(rest) >= want:  # it grew since: read on, up to the limit
                rest += fh.read(limits.max_message_bytes + 1 - len(head) - len(rest))
        except OSError as e:
            yield _rejected(source, _os_reason(e).lower())
            return
    data = head + rest
    if len(data) > limits.max_message_bytes:  # the file grew while we read it
        yield _rejected(source, f"file size exceeds {_size_text(limits.max_message_bytes)} limit")
        return
    yield RawInput(source, data, Origin(kind="file", path=source))


def iter_mbox(
    fh: BinaryIO, source: str, limits: Limits = DEFAULT_LIMITS
) -> Iterator[RawInput | ParsedInput]:
    """Split a binary mbox stream on ``From `` lines, holding one message at a time.

    Each message loses its envelope line, gets mboxrd ``>From `` un-escaped, and is named
    ``source[n]`` (0-based). A message over the size limit is not kept in memory (its bytes
    are counted and dropped) and comes out as REJECTED.
    """
    splitter = _MboxSplitter(source, limits.max_message_bytes)
    pending = b""  # the last, unterminated line of the previous chunk
    at_line_start = True
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            if pending:
                yield from splitter.block(pending, at_line_start)
            break
        buf = pending + chunk if pending else chunk
        cut = buf.rfind(b"\n") + 1
        if cut == 0 and len(buf) > _CHUNK:
            # One enormous line: pass it on in pieces (it cannot hold a From line).
            yield from splitter.block(buf, at_line_start)
            pending, at_line_start = b"", False
            continue
        if cut:
            yield from splitter.block(buf[:cut], at_line_start)
            at_line_start = True
        pending = buf[cut:]
    yield from splitter.finish()


class _MboxSplitter:
    """Accumulates the current mbox message from blocks of whole lines."""

    def __init__(self, source: str, limit: int) -> None:
        self.source = source
        self.limit = limit
        self.index = -1
        self.current = bytearray()
        self.size = 0
        self.started = False

    def block(self, block: bytes, at_line_start: bool) -> Iterator[RawInput | ParsedInput]:
        starts: list[int] = []
        if at_line_start and block.startswith(_FROM):
            starts.append(0)
        i = block.find(b"\nFrom ")
        while i >= 0:
            starts.append(i + 1)
            i = block.find(b"\nFrom ", i + 1)
        prev = 0
        for s in starts:
            self._feed(block[prev:s])
            if self.started:
                yield self._emit()
            self.started = True
            self.index += 1
            eol = block.find(b"\n", s)
            prev = len(block) if eol < 0 else eol + 1
        self._feed(block[prev:])

    def _feed(self, seg: bytes) -> None:
        if not seg or not self.started:
            return  # bytes before the first From line are not a message
        self.size += len(seg)
        if self.size <= self.limit:
            self.current += seg
        elif self.current:
            self.current = bytearray()  # over the limit: stop holding it

    def _emit(self) -> RawInput | ParsedInput:
        name = f"{self.source}[{self.index}]"
        size, data = self.size, bytes(self.current)
        self.current = bytearray()
        self.size = 0
        if size > self.limit:
            return _rejected(
                name, f"message size {size} bytes exceeds {_size_text(self.limit)} limit"
            )
        if data.endswith(b"\r\n\r\n"):  # the blank line before the next From is mbox's
            data = data[:-2]
        elif data.endswith(b"\n\n"):
            data = data[:-1]
        if b">From " in data:
            data = _MBOXRD_ESCAPE.sub(rb"\1", data)
        return RawInput(name, data, Origin(kind="file", path=name))

    def finish(self) -> Iterator[RawInput | ParsedInput]:
        if self.started:
            yield self._emit()
