"""The TLS peer fixture itself: a taken address block is skipped, not fatal."""

from __future__ import annotations

import socket

import pytest
from peers import tls as peers_tls

pytestmark = pytest.mark.peers


def test_bind_failure_moves_to_another_block(tmp_path, monkeypatch, tls_peers):
    # Occupy the HTTPS address of block 127.201.7 ourselves, then make that the first choice.
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.201.7.2", 443))
    blocker.listen(1)
    choices = iter([201, 7, 202, 9])
    monkeypatch.setattr(peers_tls.random, "randint", lambda a, b: next(choices))
    peers = peers_tls.TlsPeers(tmp_path)
    try:
        peers.start()
        assert peers.block == "127.202.9"
        assert peers.https_address == "127.202.9.2"
        assert peers.block != tls_peers.block
        with socket.create_connection((peers.smtp["good"], 25), timeout=2) as conn:
            assert conn.recv(3) == b"220"
    finally:
        peers.stop()
        blocker.close()
