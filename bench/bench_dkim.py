"""DKIM verification CPU per report mail, excluding DNS (the keys are cached, as in a sync).

Generates Google-like report mails (multipart/report, base64 gzip attachment, ~2-5 KB) signed
with dkimpy (rsa-sha256, 2048-bit key; c=relaxed/relaxed as Google and Microsoft sign, and
dkimpy's default relaxed/simple), then in one run measures the CPU time (process time) per
mail of:

- ours: ``tlsrpt_tui.core.dkim.verify`` with the key record in hand (what the sync does once the
  key cache holds the sender's key), from the raw bytes (the message split included),
  target <= 0.3 ms per mail;
- the peer: dkimpy's own ``dkim.verify(..., tlsrpt=True)`` with a dnsfunc returning the same
  record (no DNS either), whose RSA step is pure Python.

A third set gives the generated mails real header blocks: every header field of one of the real
Google/Microsoft samples in ../shared/samples (45 to 194 header lines: Received, ARC, X-…),
added above the signature as relays add them (skipped when the samples are absent).

Both run over all mails in ``--rounds`` interleaved rounds and the best round of each counts
(as bench_parse.py does), so load from other jobs on the shared machine hits both alike.

    .venv/bin/python bench/bench_dkim.py [--mails 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from peers.tlsrpt_mail import google_report

from tlsrpt_tui.core import dkim as ours

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"

HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"tls-report-domain",
           b"tls-report-submitter", b"mime-version", b"content-type"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mails", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; s=tlsrpt; p=" + base64.b64encode(der)
    keys = {"sel._domainkey.google.com": ours.KeyRecord(text=record)}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return record

    reports = [google_report(i, failures=bool(i % 3)) for i in range(args.mails)]
    print(f"load: {os.getloadavg()[0]:.2f}; {len(reports)} mails")
    relays = _real_header_blocks()
    sets = [(b"relaxed", b"relaxed", False), (b"relaxed", b"simple", False)]
    if relays:
        sets.append((b"relaxed", b"relaxed", True))
    for head, body, real_headers in sets:
        canon = (head, body)
        mails = [dkim.sign(m, b"sel", b"google.com", pem, include_headers=HEADERS, tlsrpt=True,
                           canonicalize=canon) + m for m in reports]
        if real_headers:
            mails = [relays[i % len(relays)] + m for i, m in enumerate(mails)]
        our_cpu = peer_cpu = float("inf")
        for _ in range(args.rounds):
            t0 = time.process_time()
            results = [ours.verify(m, keys).result for m in mails]
            our_cpu = min(our_cpu, time.process_time() - t0)
            t0 = time.process_time()
            peer = [dkim.verify(m, dnsfunc=dnsfunc, tlsrpt=True) for m in mails]
            peer_cpu = min(peer_cpu, time.process_time() - t0)
        assert set(results) == {"pass"} and all(peer), "every mail must verify"
        n = len(mails)
        size = sum(len(m) for m in mails) / n
        lines = sum(m.split(b"\r\n\r\n", 1)[0].count(b"\n") + 1 for m in mails) / n
        extra = ", real header blocks" if real_headers else ""
        print(f"c={b'/'.join(canon).decode()}{extra}, {size:.0f} bytes, {lines:.0f} header lines"
              " on average:")
        print(f"  tlsrpt-tui core.dkim.verify: {our_cpu / n * 1000:.3f} ms CPU per mail"
              " (target <= 0.3)")
        print(f"  dkimpy dkim.verify (tlsrpt=True): {peer_cpu / n * 1000:.3f} ms CPU per mail")
        print(f"  ratio dkimpy / ours: {peer_cpu / our_cpu:.1f}x")

def _real_header_blocks() -> list[bytes]:
    """The header fields of the real sample mails, their own DKIM-Signature left out."""
    blocks = []
    for path in sorted(SAMPLES.rglob("*.eml")) if SAMPLES.is_dir() else []:
        data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        fields, _ = dkim.rfc822_parse(head + b"\r\n")
        kept = [n + b":" + v for n, v in fields if n.lower() not in
                (b"dkim-signature", *HEADERS)]
        blocks.append(b"".join(kept))
    return blocks


if __name__ == "__main__":
    main()
