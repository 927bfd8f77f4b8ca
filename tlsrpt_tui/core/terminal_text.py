"""The command line's one sanitiser: nothing a report, a DNS record, a certificate or a mail
header says can reach the terminal as a control sequence.

``visible`` turns every character a terminal would act on into a visible escape instead of
deleting it, so the user still sees that something odd was there: C0 controls and DEL as
``\\x1b``, C1 controls (8-bit CSI/OSC) and bidirectional overrides as ``\\u009b`` /
``\\u202e`` (valid inside a JSON string too). ``SafeStream`` applies it to everything written
to a stream, so a command cannot forget it: the CLI wraps stdout for every text-mode output
(and for CSV/JSON when stdout is a terminal) and always wraps stderr. CSV and JSON written to
a file or a pipe are left exact.
"""

from __future__ import annotations

import io
from typing import TextIO

#: Format characters that reorder or hide text (Trojan Source): shown, not obeyed.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def visible(text: object, keep: str = "") -> str:
    """``text`` with controls (except those in ``keep``) and bidi overrides made visible."""
    text = str(text)
    if text.isprintable() and not (_BIDI & set(text)):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in keep:
            out.append(ch)
        elif code < 0x20 or 0x7F <= code <= 0x9F or ch in _BIDI:
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


class SafeStream(io.TextIOBase):
    """A text stream that passes everything written through :func:`visible` (newlines and
    tabs kept: the program's own layout). ``isatty`` and ``fileno`` are the wrapped ones; there
    is deliberately no ``buffer``, so raw bytes cannot go around it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(visible(text, keep="\n\t"))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def wrapped(self) -> TextIO:
        return self._stream
