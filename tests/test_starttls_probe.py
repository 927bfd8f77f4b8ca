"""STARTTLS probe against the real aiosmtpd peers on loopback port 25 (tests/peers/tls.py)."""

from __future__ import annotations

import hashlib
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlsrpt_tui.core.checks.dane import TlsaRecord
from tlsrpt_tui.core.findings import Severity
from tlsrpt_tui.net.starttls import probe_mx

pytestmark = pytest.mark.peers

HOST = "mx1.probe.test"


def codes(result):
    return [f.code for f in result.findings]


async def probe(peers, server, host=HOST, **kw):
    kw.setdefault("ca_file", peers.ca_file)
    kw.setdefault("timeout", 3.0)
    kw.setdefault("allow_private_targets", True)  # the peers live on loopback
    return await probe_mx(host, peers.smtp[server], **kw)


def spki_sha256(cert_der: bytes) -> bytes:
    cert = x509.load_der_x509_certificate(cert_der)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


async def test_good(tls_peers):
    result = await probe(tls_peers, "good")
    assert codes(result) == ["tls.ok"]
    assert result.reachable and result.starttls
    assert result.protocol in ("TLSv1.2", "TLSv1.3") and result.cipher
    assert result.sans == (HOST,)
    assert list(result.chain) == tls_peers.good_chain_der(HOST)  # the full presented chain
    assert result.spki_sha256 == tls_peers.good_spki_sha256.hex()
    inter = x509.load_der_x509_certificate(tls_peers.intermediate_der)
    assert result.issuer == inter.subject.rfc4514_string()
    assert result.not_after is not None


async def test_sni_selects_the_name(tls_peers):
    result = await probe(tls_peers, "good", host="mx2.other.test")
    assert codes(result) == ["tls.ok"] and result.sans == ("mx2.other.test",)
    assert result.spki_sha256 == tls_peers.good_spki_sha256.hex()  # fixed key for TLSA


async def test_untrusted_without_ca_file(tls_peers):
    result = await probe(tls_peers, "good", ca_file=None)
    assert codes(result) == ["tls.untrusted"]


async def test_no_starttls(tls_peers):
    result = await probe(tls_peers, "no-starttls")
    assert codes(result) == ["tls.no-starttls"]
    assert result.reachable and result.starttls is False
    assert result.findings[0].result_type == "starttls-not-supported"


@pytest.mark.parametrize(
    ("server", "expected", "result_type"),
    [
        ("expired", ["tls.expired"], "certificate-expired"),
        ("expiring", ["tls.expiring-soon"], None),
        ("wrong-name", ["tls.host-mismatch"], "certificate-host-mismatch"),
        ("self-signed", ["tls.untrusted"], "certificate-not-trusted"),
        ("old-tls", ["tls.old-version"], "validation-failure"),
    ],
)
async def test_certificate_and_protocol_problems(tls_peers, server, expected, result_type):
    result = await probe(tls_peers, server)
    assert codes(result) == expected
    assert result.findings[0].result_type == result_type
    assert result.reachable and result.starttls and result.chain


async def test_silent_server_is_unreachable_within_the_timeout(tls_peers):
    started = time.monotonic()
    result = await probe(tls_peers, "silent", timeout=1.5)
    elapsed = time.monotonic() - started
    assert codes(result) == ["tls.unreachable"]
    assert 1.0 < elapsed < 3.0
    assert "no greeting" in result.findings[0].message
    assert "port 25" in result.findings[0].hint
    assert result.findings[0].severity is Severity.ERROR


async def test_refused_is_unreachable(tls_peers):
    started = time.monotonic()
    result = await probe(tls_peers, "refused")
    assert codes(result) == ["tls.unreachable"]
    assert "refused" in result.findings[0].message
    assert time.monotonic() - started < 2.5  # generous; the 3 s timeout was not waited for
    assert not result.reachable


async def test_dane_ee_match_and_mismatch(tls_peers):
    good = TlsaRecord(3, 1, 1, tls_peers.good_spki_sha256)
    result = await probe(tls_peers, "good", tlsa=[good])
    assert codes(result) == ["dane.ok", "tls.ok"] and result.dane_matched

    other = spki_sha256(tls_peers.chain_der("expired", HOST)[0])
    result = await probe(tls_peers, "good", tlsa=[TlsaRecord(3, 1, 1, other)])
    assert codes(result) == ["dane.mismatch", "tls.ok"] and result.dane_matched is False
    assert result.findings[0].result_type == "tlsa-invalid"

    cert_hash = hashlib.sha256(tls_peers.good_cert_der(HOST)).digest()
    result = await probe(tls_peers, "good", tlsa=[TlsaRecord(3, 0, 1, cert_hash)])
    assert codes(result) == ["dane.ok", "tls.ok"]


async def test_dane_ta_match(tls_peers):
    ta = hashlib.sha256(tls_peers.intermediate_der).digest()
    result = await probe(tls_peers, "good", tlsa=[TlsaRecord(2, 0, 1, ta)])
    assert codes(result) == ["dane.ok", "tls.ok"]
    root = hashlib.sha256(tls_peers.root_der).digest()  # not presented: no match
    result = await probe(tls_peers, "good", tlsa=[TlsaRecord(2, 0, 1, root)])
    assert codes(result) == ["dane.mismatch", "tls.ok"]


async def test_self_signed_with_matching_dane_ee(tls_peers):
    leaf = tls_peers.chain_der("self-signed", HOST)[0]
    result = await probe(tls_peers, "self-signed", tlsa=[TlsaRecord(3, 1, 1, spki_sha256(leaf))])
    assert codes(result) == ["dane.ok", "tls.untrusted"]
    assert result.findings[1].severity is Severity.INFO


async def test_findings_never_carry_terminal_escapes(tls_peers):
    result = await probe(tls_peers, "wrong-name", host="mx\x1b[2J.probe.test")
    assert codes(result) == ["tls.host-mismatch"]
    assert "\x1b" not in result.findings[0].message
    assert "mx\\x1b[2J.probe.test" in result.findings[0].message


async def test_dane_findings_name_the_tlsa_rrset(tls_peers):
    result = await probe(tls_peers, "good", tlsa=[TlsaRecord(3, 1, 1, tls_peers.good_spki_sha256)])
    assert result.findings[0].subject == f"_25._tcp.{HOST}"
    assert result.findings[1].subject == HOST


async def test_address_must_be_an_ip():
    with pytest.raises(ValueError, match=r"'mx\.example\.test' is not an IP address"):
        await probe_mx(HOST, "mx.example.test", timeout=1.0)


async def test_broken_tls_is_a_handshake_failure(tls_peers):
    result = await probe(tls_peers, "broken-tls")
    assert codes(result) == ["tls.handshake-failed"]
    assert result.reachable and result.starttls and not result.chain
    assert result.findings[0].result_type == "validation-failure"
