"""``import``'s pipeline (parsing in worker processes ahead of the writer thread) gives exactly
the store a sequential ingest gives, in the same order, and survives a worker that dies."""

from __future__ import annotations

import os
from pathlib import Path

from report_factory import DMARC_MAIL, failure, report, sts_policy, to_json, to_mail

from tlsrpt_tui.core.model import Origin, ParsedInput, RawInput
from tlsrpt_tui.service import ingest
from tlsrpt_tui.service.import_paths import ingest_items
from tlsrpt_tui.service.ingest import OutcomeKind, ingest_stream
from tlsrpt_tui.store.database import Store

DUMP_QUERIES = (
    "SELECT id, source, sha256, size, data_zlib, status, error, part_errors FROM raw_inputs"
    " ORDER BY id",
    "SELECT id, input_id, input_index, organization, report_id, start, successful, failed,"
    " notes, search FROM reports ORDER BY id",
    "SELECT id, report_pk, ordinal, policy_type, policy_domain, policy_strings, mx_hosts,"
    " successful, failed FROM policies ORDER BY id",
    "SELECT * FROM failure_details ORDER BY id",
)


def _inputs(n: int) -> list[RawInput | ParsedInput]:
    """Reports (some duplicated), unreadable bytes, DMARC mail and an unreadable path, mixed."""
    items: list[RawInput | ParsedInput] = []
    for i in range(n):
        day = f"2026-05-{1 + i % 28:02d}"
        rep = report(f"Sender {i % 3}", f"rid-{i % (n - 5)}", day, [
            sts_policy(f"d{i % 4}.example", i, i % 3,
                       details=[failure("certificate-expired", i % 3)] if i % 3 else None),
        ])
        data = to_mail(rep, msgid=i) if i % 2 else to_json(rep)
        if i % 17 == 0:
            data = b'{"organization-name": 1}'
        if i % 23 == 0:
            data = DMARC_MAIL
        items.append(RawInput(f"in-{i}", data, Origin("file", f"in-{i}")))
        if i == n // 2:
            items.append(ParsedInput("missing-path", ingest.InputStatus.REJECTED,
                                     error="no such file"))
    return items


def _dump(path: Path) -> list[list[tuple]]:
    with Store(path) as store:
        return [[tuple(r) for r in store.conn.execute(q)] for q in DUMP_QUERIES]


def _run(path: Path, workers: int | None) -> tuple[list[tuple[str, OutcomeKind]], str]:
    """The import's pipeline with ``workers`` parser processes; None: the sequential ingest."""
    seen: list[tuple[str, OutcomeKind]] = []
    with Store(path) as store:
        if workers is None:
            summary = ingest_stream(store, _inputs(120), batch_size=32,
                                    on_outcome=lambda o: seen.append((o.source, o.kind)))
        else:
            summary = ingest_items(store, _inputs(120), batch_size=32, workers=workers,
                                   on_outcome=lambda o: seen.append((o.source, o.kind)))
    return seen, summary.line()



def _count_fallbacks(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Each pool's count of chunks it had to prepare in-process, recorded when it closes."""
    counts: list[int] = []
    close = ingest._PreparePool.close

    def recording_close(self) -> None:  # type: ignore[no-untyped-def]
        counts.append(self.fallbacks)
        close(self)

    monkeypatch.setattr(ingest._PreparePool, "close", recording_close)
    return counts


def test_workers_store_exactly_what_a_sequential_import_stores(new_db, monkeypatch) -> None:
    pools = _count_fallbacks(monkeypatch)
    seq_outcomes, seq_line = _run(new_db("seq"), workers=None)
    inline_outcomes, inline_line = _run(new_db("inline"), workers=0)
    assert pools == []  # no pool without workers
    par_outcomes, par_line = _run(new_db("par"), workers=2)
    assert pools == [0]  # one pool, every chunk prepared by a worker
    assert par_outcomes == inline_outcomes == seq_outcomes  # same order, same verdicts
    assert par_line == inline_line == seq_line
    assert "rejected" in seq_line and not seq_line.startswith("0 new")
    assert _dump(new_db("par")) == _dump(new_db("seq"))
    assert _dump(new_db("inline")) == _dump(new_db("seq"))


def test_a_dying_worker_loses_nothing(new_db, monkeypatch) -> None:
    parent = os.getpid()
    real = ingest.prepare_all

    def dies_in_a_worker(raws, limits, keys=None):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            os._exit(9)  # as if killed by the OOM killer
        return real(raws, limits, keys)

    monkeypatch.setattr(ingest, "prepare_all", dies_in_a_worker)
    pools = _count_fallbacks(monkeypatch)
    outcomes, line = _run(new_db("dying"), workers=1)
    assert pools[0] > 0  # the worker did die, and its chunks were prepared here
    monkeypatch.setattr(ingest, "prepare_all", real)
    expected, expected_line = _run(new_db("seq"), workers=None)
    assert (outcomes, line) == (expected, expected_line)
    assert _dump(new_db("dying")) == _dump(new_db("seq"))


def test_import_batches_close_at_a_count_or_at_a_byte_budget() -> None:
    from tlsrpt_tui.service.import_paths import _batches

    def raw(i: int, size: int) -> RawInput:
        return RawInput(f"in-{i}", b"x" * size, Origin("file", f"in-{i}"))

    small = [raw(i, 10) for i in range(7)]
    assert [len(b) for b in _batches(small, 3, max_bytes=1000)] == [3, 3, 1]
    big = [raw(i, 400) for i in range(7)]  # 1,000 bytes are reached at the third input
    batches = list(_batches(big, 100, max_bytes=1000))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [item for b in batches for item in b] == big  # nothing lost, order kept
    # unreadable paths ride along without bytes; at most 4x the count per batch
    paths = [ParsedInput(f"p{i}", ingest.InputStatus.REJECTED, error="gone") for i in range(9)]
    assert [len(b) for b in _batches(paths, 2, max_bytes=1000)] == [8, 1]


def test_the_writer_takes_parsed_chunks_in_groups_in_input_order() -> None:
    """Chunks come back from the parsers 50 at a time; the writer stores them in groups of
    at least ``size`` (one ``ingest_batch`` call each), and a chunk the parsers could not
    prepare (None) alone, in its place."""
    from tlsrpt_tui.service.import_paths import _grouped

    def raw(i: int) -> RawInput:
        return RawInput(f"in-{i}", b"x", Origin("file", f"in-{i}"))

    chunks = [[raw(i) for i in range(k * 3, k * 3 + 3)] for k in range(5)]
    ready = [[ingest.Prepared(ParsedInput(r.source, ingest.InputStatus.REJECTED)) for r in c]
             for c in chunks]
    parts = [(chunks[0], ready[0]), (chunks[1], ready[1]), (chunks[2], None),
             (chunks[3], ready[3]), (chunks[4], ready[4])]
    got = list(_grouped(iter(parts), 5))
    assert [([r.source for r in rs], p is None) for rs, p in got] == [
        ([r.source for r in chunks[0] + chunks[1]], False),
        ([r.source for r in chunks[2]], True),
        ([r.source for r in chunks[3] + chunks[4]], False),
    ]
    assert got[0][1] == ready[0] + ready[1]
    assert list(_grouped(iter(parts[3:4]), 5)) == [(chunks[3], ready[3])]  # a short last group
