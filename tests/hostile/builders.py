"""Generators of hostile inputs: compression bombs, broken archives, broken mail, hostile text.

Everything is built on demand from a few parameters, so a "10 GiB" gzip bomb costs 10 MiB of
compressed bytes and a fraction of a second, and no large binary file lives in the repository.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import zipfile
import zlib
from typing import Any

MiB = 1024 * 1024
GiB = 1024 * MiB

# Text that tries to drive a terminal or a markup renderer: Rich markup, OSC 52 (clipboard
# write), clear screen, BEL, 8-bit CSI, C1 controls, a bidi override and a NUL.
HOSTILE_TEXT = (
    "[bold red]X[/] [link=https://evil.example]c[/link] \x1b]52;c;ZXZpbA==\x07"
    "\x1b[2J\x1b[31mred\x07\x9b31m\x85\x90\u202eevil\x00end"
)
CONTROL_CHARS = frozenset(
    [chr(c) for c in range(0x20) if c != 0x09] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
)


# ---------------------------------------------------------------------------------------------
# gzip


def _gf2_times(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine: CRC of A+B from CRC(A), CRC(B) and len(B) (pure Python port)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def gzip_zeros(size: int, block: int = MiB) -> bytes:
    """A valid gzip of `size` zero bytes (size a multiple of `block`), built without inflating.

    Deflate blocks ended by a full flush are byte-aligned and independent, so one compressed
    block of zeros is repeated; the trailer carries the true CRC-32 and length (mod 2**32).
    """
    assert size % block == 0
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = co.compress(bytes(block)) + co.flush(zlib.Z_FULL_FLUSH)
    end = co.flush(zlib.Z_FINISH)
    n = size // block
    crc_block, crc = zlib.crc32(bytes(block)), 0
    length, span, left = block, crc_block, n  # crc of zeros by doubling
    while left:
        if left & 1:
            crc = crc32_combine(crc, span, length)
        span = crc32_combine(span, span, length)
        length *= 2
        left >>= 1
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + one * n + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# ---------------------------------------------------------------------------------------------
# zip


def make_zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def zip_many_empty(n: int) -> bytes:
    """A zip of `n` empty stored members, packed by hand (zipfile's writer would hold a ZipInfo
    per member, and the case would measure the builder instead of the parser)."""
    local, central = bytearray(), bytearray()
    for i in range(n):
        name = b"%d" % i
        central += struct.pack(
            "<4s6H3L5HLL", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0, 0, 0,
            0, 0, len(local),
        ) + name
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0)
        local += name
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, n & 0xFFFF, n & 0xFFFF, len(central), len(local), 0
    )
    return bytes(local + central + end)


def rename_members(data: bytes, old: str, new: str) -> bytes:
    """Rewrite a member name in place (same length) in both headers: names zipfile would not
    write itself (absolute paths, backslashes, control characters) but an attacker can."""
    a, b = old.encode("utf-8"), new.encode("utf-8")
    assert len(a) == len(b)
    return data.replace(a, b)


def zip_overlapping(content: bytes, copies: int) -> bytes:
    """One compressed member referenced `copies` times from the central directory (an
    overlapping-files zip bomb: the archive is small, every entry inflates the same data)."""
    one = make_zip([("r.json", content)])
    eocd = one.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", one[eocd + 12 : eocd + 20])
    central = one[cd_offset : cd_offset + cd_size]
    body = one[:cd_offset] + central * copies
    tail = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, cd_size * copies, cd_offset, 0
    )
    return body + tail


def nested_zip(inner: bytes, levels: int) -> bytes:
    for i in range(levels):
        inner = make_zip([(f"level{i}.zip", inner)])
    return inner


def zip_quine_like(levels: int = 50) -> bytes:
    """Zips nested inside each other with the same name at every level (a finite stand-in for
    a zip quine: whatever recursion a reader does, it must stop at its nesting limit)."""
    inner = make_zip([("r.zip", b"PK\x03\x04")])
    for _ in range(levels):
        inner = make_zip([("r.zip", inner)])
    return inner


def zip_unsupported_method(content: bytes) -> bytes:
    """A stored member whose headers claim compression method 99 (AES / unknown)."""
    data = bytearray(make_zip([("r.json", content)], zipfile.ZIP_STORED))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, local + 8, 99)
    struct.pack_into("<H", data, central + 10, 99)
    return bytes(data)


def zip_encrypted_flag(content: bytes) -> bytes:
    """A member with the "encrypted" flag bit set (no password can be given)."""
    data = bytearray(make_zip([("r.json", content)], zipfile.ZIP_STORED))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    for pos in (local + 6, central + 8):
        (flags,) = struct.unpack_from("<H", data, pos)
        struct.pack_into("<H", data, pos, flags | 1)
    return bytes(data)


# ---------------------------------------------------------------------------------------------
# reports


def report(**over: Any) -> dict[str, Any]:
    """A small valid TLS-RPT report; keyword arguments replace top-level fields."""
    rep: dict[str, Any] = {
        "organization-name": "Hostile Sender",
        "date-range": {
            "start-datetime": "2026-05-01T00:00:00Z",
            "end-datetime": "2026-05-01T23:59:59Z",
        },
        "contact-info": "tlsrpt@sender.example",
        "report-id": "hostile-1",
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": ["version: STSv1", "mode: enforce", "mx: mx1.example.org"],
                    "policy-domain": "example.org",
                    "mx-host": ["mx1.example.org"],
                },
                "summary": {
                    "total-successful-session-count": 10,
                    "total-failure-session-count": 2,
                },
                "failure-details": [
                    {
                        "result-type": "certificate-expired",
                        "sending-mta-ip": "192.0.2.1",
                        "receiving-mx-hostname": "mx1.example.org",
                        "receiving-mx-helo": "mx1.example.org",
                        "receiving-ip": "198.51.100.7",
                        "failed-session-count": 2,
                        "additional-information": "https://sender.example/why",
                        "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED",
                    }
                ],
            }
        ],
    }
    rep.update(over)
    return rep


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def leaf_paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a JSON tree (containers included), for wrong-type mutation."""
    out = [path] if path else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += leaf_paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += leaf_paths(v, (*path, i))
    return out


def set_path(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    obj = json.loads(json.dumps(obj))
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


def hostile_report(text: str = HOSTILE_TEXT) -> dict[str, Any]:
    """A valid report whose every free-text field carries `text` (markup and escapes)."""
    rep = report(**{"organization-name": f"Org {text}", "contact-info": f"c {text}",
                    "report-id": f"id {text}"})
    pol = rep["policies"][0]
    pol["policy"]["policy-string"] = [f"mode: {text}", f"mx: {text}"]
    pol["policy"]["policy-domain"] = f"example.org{text}"
    pol["policy"]["mx-host"] = [f"mx {text}"]
    for key in ("result-type", "sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
                "receiving-ip", "additional-information", "failure-reason-code"):
        pol["failure-details"][0][key] = f"{key} {text}"
    return rep


# ---------------------------------------------------------------------------------------------
# mail


def mail(
    body_parts: list[tuple[str, str, bytes]],
    *,
    top: str = 'multipart/report; report-type="tlsrpt"; boundary="B"',
    headers: str = "TLS-Report-Domain: example.org\nTLS-Report-Submitter: sender.example\n",
    close: bool = True,
    boundary: str = "B",
) -> bytes:
    """A mail with parts given as (content-type line, transfer encoding, already-encoded body).

    Header text is written as UTF-8 (hostile headers may hold any character); bodies as given.
    """
    out = [
        (
            "From: reports@sender.example\nTo: tlsrpt@example.org\n"
            "Subject: Report Domain: example.org Submitter: sender.example Report-ID: <hostile-1>\n"
            f"{headers}MIME-Version: 1.0\nContent-Type: {top}\n\n"
        ).encode()
    ]
    for ctype, cte, body in body_parts:
        head = f"--{boundary}\nContent-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n\n"
        out += [head.encode(), body, b"\n"]
    if close:
        out.append(f"--{boundary}--\n".encode())
    return b"".join(out)


def report_mail(payload: bytes, **kw: Any) -> bytes:
    """A TLS-RPT mail with `payload` as its base64 application/tlsrpt+gzip attachment."""
    return mail(
        [
            ("text/plain", "7bit", b"This is a TLS report."),
            ('application/tlsrpt+gzip; name="r.json.gz"', "base64", base64.encodebytes(payload)),
        ],
        **kw,
    )
