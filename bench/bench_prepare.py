"""Benchmark: CPU per mail of a parser process (service/ingest.py ``prepare``), stage by stage.

Run from the repo root with the bench venv (or any venv holding the package and dkimpy):

    bench/.venv/bin/python bench/bench_prepare.py [--messages 10000] [--signed 1000] [--rounds 5]

It generates bench_import.py's report mails, reads them as ``import`` does
(service/sources.iter_inputs) and times, in this one thread with ``time.process_time`` (CPU,
not wall: the machine is shared), best of ``--rounds``:

- each stage of ``prepare`` alone: the MIME read, the whole parse, the report's store rows,
  zlib, SHA-256 and the DKIM verdict;
- ``prepare_all`` over chunks of 50 (what a parser process runs), and the pickle round trip of
  each chunk's result (what goes back to the main process), with its size;

twice: with the keys a resolver gives for these mails here (``checker_for(None)``; without
network the key is missing, as for a rotated key), and with ``--signed`` of the mails signed
again by a test key that the keys hold, so the verifying path is measured too.
Why: ``import`` must reach 6x parsedmarc, and the parser process's share of that is about
0.2 ms of CPU a mail; this says which stage to cut. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import pickle
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import bench_import

from tlsrpt_tui.core import dkim as core_dkim
from tlsrpt_tui.core.mime import read_message
from tlsrpt_tui.core.model import RawInput
from tlsrpt_tui.core.parse import DEFAULT_LIMITS, parse_bytes
from tlsrpt_tui.service import ingest
from tlsrpt_tui.service.dkim import DkimKeys, checker_for
from tlsrpt_tui.service.sources import iter_inputs
from tlsrpt_tui.store import reports as db

CHUNK = ingest._PreparePool.CHUNK
SELECTOR, SIGNER = b"bench", b"sender.example"
_OLD_SIGNATURE = re.compile(rb"^DKIM-Signature:[^\n]*\n(?:[ \t][^\n]*\n)*", re.I | re.M)


def best(rounds: int, fn: Callable[[], object]) -> float:
    """The least CPU seconds of ``rounds`` calls (the noise of a shared box only adds)."""
    times = []
    for _ in range(rounds):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def signed_copies(raws: Sequence[RawInput]) -> tuple[list[RawInput], DkimKeys]:
    """The mails with their fake signature replaced by a real one (rsa-sha256, 2048 bits, as
    tests/test_dkim.py signs), and the keys holding the public key."""
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"tls-report-domain",
               b"tls-report-submitter", b"mime-version", b"content-type"]
    out = []
    for raw in raws:
        data = _OLD_SIGNATURE.sub(b"", raw.data, count=1)
        sig = dkim.sign(data, SELECTOR, SIGNER, pem, include_headers=headers, tlsrpt=True)
        out.append(RawInput(raw.source, sig + data, raw.origin))
    name = f"{SELECTOR.decode()}._domainkey.{SIGNER.decode()}"
    record = core_dkim.KeyRecord(text=b"v=DKIM1; k=rsa; p=" + base64.b64encode(der))
    return out, DkimKeys({name: record})


def compress(data: bytes) -> bytes:
    """The store's compression (``db.compress``; before it, zlib.compress at ZLIB_LEVEL)."""
    own = getattr(db, "compress", None)
    return own(data) if own is not None else zlib.compress(data, db.ZLIB_LEVEL)


def stages(raws: Sequence[RawInput], keys: DkimKeys, rounds: int) -> dict[str, float]:
    """µs of CPU per mail of each stage over ``raws``."""
    datas = [r.data for r in raws]
    parsed = [parse_bytes(d, "x", DEFAULT_LIMITS).reports for d in datas]
    chunks = [list(raws[i:i + CHUNK]) for i in range(0, len(raws), CHUNK)]
    results = [ingest.prepare_all(c, DEFAULT_LIMITS, keys) for c in chunks]
    pickled = [pickle.dumps(r, pickle.HIGHEST_PROTOCOL) for r in results]
    timed: dict[str, Callable[[], object]] = {
        "read_message": lambda: [read_message(d) for d in datas],
        "parse_bytes": lambda: [parse_bytes(d, "x", DEFAULT_LIMITS) for d in datas],
        "rows": lambda: [ingest._rows_of(p) for p in parsed],
        "zlib": lambda: [compress(d) for d in datas],
        "sha256": lambda: [hashlib.sha256(d).digest() for d in datas],
        "dkim verdict": lambda: [keys.verdict(d) for d in datas],
        "prepare_all": lambda: [ingest.prepare_all(c, DEFAULT_LIMITS, keys) for c in chunks],
        "pickle.dumps": lambda: [pickle.dumps(r, pickle.HIGHEST_PROTOCOL) for r in results],
        "pickle.loads": lambda: [pickle.loads(p) for p in pickled],
    }
    out = {name: best(rounds, fn) * 1e6 / len(raws) for name, fn in timed.items()}
    out["pickle bytes"] = sum(map(len, pickled)) / len(raws)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--signed", type=int, default=1000, help="of them re-signed with a real key")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mails", type=Path, help="a directory of mails already generated")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.mails or Path(tmp) / "mails"
        if args.mails is None:
            bench_import.generate(where, args.messages)
        raws = [r for r in iter_inputs([where]) if isinstance(r, RawInput)][: args.messages]
    checker = checker_for(None)
    if checker is None:
        sys.exit("no resolver: the keys cannot be asked for")
    missing = checker.looked_up_where_verified()  # as import's parser processes get them
    signed, real = signed_copies(raws[: args.signed])
    runs = {f"{len(raws)} mails, keys as DNS gives them": stages(raws, missing, args.rounds),
            f"{len(signed)} mails signed, key known": stages(signed, real, args.rounds)}
    verdicts = {str(real.verdict(r.data)) for r in signed[:5]}
    print(f"verdicts of the signed mails (first 5): {verdicts}")
    print(f"keys as DNS gives them: {missing.verdict(raws[0].data)} for the first mail")
    names = list(next(iter(runs.values())))
    print(f"{'µs CPU per mail (best of ' + str(args.rounds) + ')':<26}"
          + "".join(f"{title:>40}" for title in runs))
    for name in names:
        print(f"{name:<26}" + "".join(f"{run[name]:>40.1f}" for run in runs.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
