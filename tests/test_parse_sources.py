"""iter_inputs: files, mboxes (streamed), Maildirs, directory trees, and unreadable paths."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest

from tlsrpt_tui.core.model import InputStatus, ParsedInput, RawInput
from tlsrpt_tui.core.parse import Limits, parse_bytes
from tlsrpt_tui.service import sources
from tlsrpt_tui.service.sources import iter_inputs, iter_mbox

FIXTURES = Path(__file__).parent / "fixtures"
MAIL = (FIXTURES / "mail" / "tlsrpt_google_style.eml").read_bytes()
REPORT = (FIXTURES / "reports" / "google_style.json").read_bytes()


def raws(items: list[RawInput | ParsedInput]) -> list[RawInput]:
    assert all(isinstance(i, RawInput) for i in items), items
    return items  # type: ignore[return-value]


def test_single_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(REPORT)
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(REPORT))
    got = raws(list(iter_inputs([tmp_path / "a.json", str(tmp_path / "b.json.gz")])))
    assert [g.source for g in got] == [str(tmp_path / "a.json"), str(tmp_path / "b.json.gz")]
    assert got[0].data == REPORT
    assert got[1].origin.kind == "file" and got[1].origin.path == str(tmp_path / "b.json.gz")
    assert all(parse_bytes(g.data, g.source).status is InputStatus.REPORT for g in got)


def _mbox(messages: list[bytes]) -> bytes:
    out = b""
    for m in messages:
        out += b"From MAILER-DAEMON Sat Mar  7 00:00:00 2026\n" + m
        if not m.endswith(b"\n"):
            out += b"\n"
        out += b"\n"
    return out


def test_mbox_split_unescape_and_names(tmp_path: Path) -> None:
    plain = b"Subject: one\n\nline\n>From the start of a line\n>>From deeper\nnot >From here\n"
    box = tmp_path / "reports.mbox"
    box.write_bytes(_mbox([MAIL, plain, MAIL]))
    got = raws(list(iter_inputs([box])))
    assert [g.source for g in got] == [f"{box}[0]", f"{box}[1]", f"{box}[2]"]
    assert got[0].data == MAIL and got[2].data == MAIL
    assert got[1].data == (
        b"Subject: one\n\nline\nFrom the start of a line\n>From deeper\nnot >From here\n"
    )
    assert got[1].origin.path == f"{box}[1]"
    result = parse_bytes(got[2].data, got[2].source)
    assert result.status is InputStatus.REPORT


def test_mbox_streams_across_chunks_and_long_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "_CHUNK", 4096)  # many chunk boundaries with small data
    long_line = b"Subject: long\n\n" + b"x" * 10_000 + b"\n"  # one line longer than a chunk
    messages = [MAIL if i % 3 else long_line for i in range(40)]
    box = tmp_path / "big.mbox"
    box.write_bytes(_mbox(messages))
    got = raws(list(iter_inputs([box])))
    assert len(got) == 40
    assert [g.data for g in got] == messages


def test_mbox_oversized_message_is_rejected_alone() -> None:
    big = b"Subject: big\n\n" + b"y" * 5000 + b"\n"
    data = _mbox([MAIL, big, MAIL])
    got = list(iter_mbox(io.BytesIO(data), "box", Limits(max_message_bytes=4000)))
    assert [type(g).__name__ for g in got] == ["RawInput", "ParsedInput", "RawInput"]
    bad = got[1]
    assert isinstance(bad, ParsedInput)
    assert bad.source == "box[1]" and bad.status is InputStatus.REJECTED
    assert bad.error == f"message size {len(big) + 1} bytes exceeds 4000 bytes limit"


def test_mbox_without_trailing_newline_and_with_crlf() -> None:
    data = b"From a Sat Mar  7 00:00:00 2026\r\nSubject: x\r\n\r\nbody\r\n\r\nFrom b\r\nSubject: y"
    got = raws(list(iter_mbox(io.BytesIO(data), "crlf")))
    assert [g.data for g in got] == [b"Subject: x\r\n\r\nbody\r\n", b"Subject: y"]


def test_maildir_and_maildir_plus_plus(tmp_path: Path) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp", ".Reports/cur", ".Reports/new", ".Reports/tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "2.host:2,S").write_bytes(MAIL)
    (md / "cur" / "1.host:2,S").write_bytes(MAIL)
    (md / "new" / "3.host").write_bytes(MAIL)
    (md / "tmp" / "4.host").write_bytes(b"half-delivered")
    (md / "dovecot-uidlist").write_bytes(b"3 V1 N4\n")
    (md / ".Reports" / "new" / "5.host").write_bytes(MAIL)
    got = raws(list(iter_inputs([md])))
    assert [Path(g.source).relative_to(md).as_posix() for g in got] == [
        "cur/1.host:2,S",
        "cur/2.host:2,S",
        "new/3.host",
        ".Reports/new/5.host",
    ]


def test_directory_tree_is_walked_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "z.json").write_bytes(REPORT)
    (tmp_path / "a" / "y.eml").write_bytes(MAIL)
    (tmp_path / "a" / "box.mbox").write_bytes(_mbox([MAIL, MAIL]))
    (tmp_path / "c.json").write_bytes(REPORT)
    (tmp_path / "a" / "loop").symlink_to(tmp_path)  # a symlink loop must not hang
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    (tmp_path / "b" / ".z.json.swp").write_bytes(b"\x00swap")
    got = raws(list(iter_inputs([tmp_path])))
    names = [Path(g.source.split("[")[0]).relative_to(tmp_path).as_posix() for g in got]
    assert names == ["a/box.mbox", "a/box.mbox", "a/y.eml", "b/z.json", "c.json"]
    assert got[1].source.endswith("box.mbox[1]")


@pytest.mark.parametrize("given", [".", "./", "sub/..", "tree", "tree/"])
def test_walked_files_are_named_as_pathlib_joins_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """Sources (error lines, the stored origin) read as ``str(Path(given) / ...)``, whatever
    way the directory was written on the command line."""
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "r.json").write_bytes(REPORT)
    (tmp_path / "tree" / "m.eml").write_bytes(MAIL)
    monkeypatch.chdir(tmp_path if given.startswith("tree") else tmp_path / "tree")
    root = Path(given)
    want = [str(root / "m.eml"), str(root / "sub" / "r.json")]
    got = raws(list(iter_inputs([given])))
    assert [g.source for g in got] == want
    assert [g.origin.path for g in got] == want


def test_missing_path_not_a_directory_and_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "f.json").write_bytes(REPORT)
    got = list(
        iter_inputs([tmp_path / "nope.eml", tmp_path / "f.json" / "child", fifo, "/dev/null"])
    )
    assert all(isinstance(g, ParsedInput) and g.status is InputStatus.REJECTED for g in got)
    assert [(g.source, g.error) for g in got] == [  # type: ignore[union-attr]
        (str(tmp_path / "nope.eml"), "no such file or directory"),
        (str(tmp_path / "f.json" / "child"), "not a directory"),
        (str(fifo), "not a regular file"),
        ("/dev/null", "not a regular file"),
    ]


def test_unreadable_file_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.eml"
    secret.write_bytes(MAIL)
    secret.chmod(0)
    if os.geteuid() == 0:
        # root reads any file: make opening it fail the way it does for an ordinary user
        def denied(path: object, *args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(path))

        os_open = os.open

        def os_denied(path: object, *args: object, **kwargs: object) -> int:
            if str(path) == str(secret):
                denied(path)
            return os_open(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(sources, "open", denied, raising=False)
        monkeypatch.setattr(os, "open", os_denied)
    (got,) = list(iter_inputs([secret]))
    assert isinstance(got, ParsedInput)
    assert (got.source, got.status, got.error) == (
        str(secret),
        InputStatus.REJECTED,
        "permission denied",
    )


def test_file_over_the_size_limit_is_rejected_unread(tmp_path: Path) -> None:
    f = tmp_path / "huge.json"
    f.write_bytes(REPORT)
    (got,) = list(iter_inputs([f], Limits(max_message_bytes=100)))
    assert isinstance(got, ParsedInput) and got.status is InputStatus.REJECTED
    assert got.error == f"file size {len(REPORT)} bytes exceeds 100 bytes limit"
