"""Verification of a presented chain and TLSA matching (pure; certificates from the test CA)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from peers.tls import CertFactory

from tlsrpt_tui.core.checks.dane import TlsaRecord
from tlsrpt_tui.core.checks.tls_verify import (
    ProbeResult,
    name_matches,
    tlsa_matches,
    verify_presented,
)
from tlsrpt_tui.core.findings import Severity

HOST = "mx.example.test"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return CertFactory(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def roots(certs):
    return [certs.root_cert]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def judge(chain, roots, *, host=HOST, now=NOW, protocol="TLSv1.3", tlsa=None):
    result = ProbeResult(host=host, address="192.0.2.25", protocol=protocol)
    result.chain = tuple(der(c) for c in chain)
    return verify_presented(result, roots, now, tlsa)


def codes(result):
    return [f.code for f in result.findings]


def test_good_chain(certs, roots):
    chain = certs.chain("valid", HOST)
    result = judge(chain, roots)
    assert codes(result) == ["tls.ok"]
    assert result.findings[0].severity is Severity.OK
    assert result.sans == (HOST,)
    assert result.spki_sha256 == hashlib.sha256(spki(chain[0])).hexdigest()
    assert result.issuer == certs.inter_cert.subject.rfc4514_string()
    assert result.not_after == chain[0].not_valid_after_utc


def test_expired_is_not_also_untrusted(certs, roots):
    chain = certs.chain("expired", HOST)
    result = judge(chain, roots)
    assert codes(result) == ["tls.expired"]
    assert result.findings[0].result_type == "certificate-expired"


def test_not_yet_valid_counts_as_expired(certs, roots):
    chain = certs.chain("valid", HOST)
    result = judge(chain, roots, now=chain[0].not_valid_before_utc - dt.timedelta(hours=1))
    assert codes(result) == ["tls.expired"]
    assert "not valid before" in result.findings[0].message


def test_expiring_soon(certs, roots):
    chain = certs.chain("valid", HOST)
    result = judge(chain, roots, now=chain[0].not_valid_after_utc - dt.timedelta(days=5))
    assert codes(result) == ["tls.expiring-soon"]
    assert result.findings[0].severity is Severity.WARNING
    result = judge(chain, roots, now=chain[0].not_valid_after_utc - dt.timedelta(days=15))
    assert codes(result) == ["tls.ok"]


def test_host_mismatch(certs, roots):
    result = judge(certs.chain("wrong-name", HOST), roots)
    assert codes(result) == ["tls.host-mismatch"]
    assert result.findings[0].result_type == "certificate-host-mismatch"
    assert "wrong-name.invalid" in result.findings[0].message


def test_wildcard_covers_one_label(certs, roots):
    chain = certs.chain("valid", "*.example.test")
    assert codes(judge(chain, roots, host="mx.example.test")) == ["tls.ok"]
    assert codes(judge(chain, roots, host="a.mx.example.test")) == ["tls.host-mismatch"]
    assert codes(judge(chain, roots, host="example.test")) == ["tls.host-mismatch"]


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mx.example.test", "MX.example.test.", True),
        ("*.example.test", "mx.example.test", True),
        ("*.example.test", "a.b.example.test", False),
        ("*.test", "example.test", False),  # no wildcard over a single label
    ],
)
def test_name_matches(pattern, host, expected):
    assert name_matches(pattern, host) is expected


def test_self_signed_is_untrusted(certs, roots):
    result = judge(certs.chain("self-signed", HOST), roots)
    assert codes(result) == ["tls.untrusted"]
    assert result.findings[0].severity is Severity.ERROR
    assert result.findings[0].result_type == "certificate-not-trusted"


def test_missing_intermediate_is_untrusted(certs, roots):
    leaf = certs.chain("valid", HOST)[0]
    assert codes(judge([leaf], roots)) == ["tls.untrusted"]


def test_unknown_root_is_untrusted(certs):
    assert codes(judge(certs.chain("valid", HOST), [])) == ["tls.untrusted"]
    foreign = x509.load_pem_x509_certificate(trustme.CA().cert_pem.bytes())
    assert codes(judge(certs.chain("valid", HOST), [foreign])) == ["tls.untrusted"]


def test_old_version(certs, roots):
    result = judge(certs.chain("valid", HOST), roots, protocol="TLSv1.1")
    assert codes(result) == ["tls.old-version"]
    assert result.findings[0].result_type == "validation-failure"


def test_garbage_chain_is_a_handshake_failure(roots):
    result = ProbeResult(host=HOST, address="192.0.2.25", chain=(b"not a certificate",))
    verify_presented(result, roots, NOW)
    assert codes(result) == ["tls.handshake-failed"]


def _tlsa(usage, selector, mtype, cert):
    content = der(cert) if selector == 0 else spki(cert)
    digest = {0: lambda b: b, 1: lambda b: hashlib.sha256(b).digest()}
    digest[2] = lambda b: hashlib.sha512(b).digest()
    return TlsaRecord(usage, selector, mtype, digest[mtype](content))


@pytest.mark.parametrize(("selector", "mtype"), [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_dane_ee_all_selectors_and_types(certs, selector, mtype):
    chain = certs.chain("valid", HOST)
    assert tlsa_matches(_tlsa(3, selector, mtype, chain[0]), chain)
    assert not tlsa_matches(_tlsa(3, selector, mtype, chain[1]), chain)  # EE: leaf only


def test_dane_ta_must_be_in_the_chain(certs):
    chain = certs.chain("valid", HOST)
    assert tlsa_matches(_tlsa(2, 1, 1, certs.inter_cert), chain)
    assert tlsa_matches(_tlsa(2, 0, 1, certs.inter_cert), chain)
    assert not tlsa_matches(_tlsa(2, 1, 1, certs.root_cert), chain)  # root not presented
    assert not tlsa_matches(_tlsa(2, 1, 1, chain[0]), chain)  # the leaf is no TA
    # an intermediate that did not sign the leaf is no TA for it
    self_signed = certs.chain("self-signed", HOST)
    assert not tlsa_matches(_tlsa(2, 1, 1, certs.inter_cert), [self_signed[0], certs.inter_cert])


def test_pkix_usages_never_match(certs):
    chain = certs.chain("valid", HOST)
    assert not tlsa_matches(TlsaRecord(1, 1, 1, _tlsa(3, 1, 1, chain[0]).data), chain)
    assert not tlsa_matches(TlsaRecord(0, 1, 1, _tlsa(3, 1, 1, chain[1]).data), chain)


def test_dane_ok_and_mismatch_findings(certs, roots):
    chain = certs.chain("valid", HOST)
    ok = judge(chain, roots, tlsa=[_tlsa(3, 1, 1, chain[0])])
    assert codes(ok) == ["dane.ok", "tls.ok"] and ok.dane_matched is True
    ta = judge(chain, roots, tlsa=[_tlsa(2, 1, 1, certs.inter_cert)])
    assert codes(ta) == ["dane.ok", "tls.ok"]
    other = certs.chain("expired", HOST)[0]
    bad = judge(chain, roots, tlsa=[_tlsa(3, 1, 1, other)])
    assert codes(bad) == ["dane.mismatch", "tls.ok"] and bad.dane_matched is False
    assert bad.findings[0].result_type == "tlsa-invalid"
    # one matching record among several is enough (rollover: current + next)
    both = judge(chain, roots, tlsa=[_tlsa(3, 1, 1, other), _tlsa(3, 1, 1, chain[0])])
    assert codes(both) == ["dane.ok", "tls.ok"]


def test_unusable_records_are_ignored_here(certs, roots):
    chain = certs.chain("valid", HOST)
    result = judge(chain, roots, tlsa=[TlsaRecord(3, 1, 1, b"short")])
    assert codes(result) == ["tls.ok"] and result.dane_matched is None


def test_self_signed_with_dane_ee_is_only_info(certs, roots):
    chain = certs.chain("self-signed", HOST)
    result = judge(chain, roots, tlsa=[_tlsa(3, 1, 1, chain[0])])
    assert codes(result) == ["dane.ok", "tls.untrusted"]
    untrusted = result.findings[1]
    assert untrusted.severity is Severity.INFO and untrusted.result_type is None
    # DANE-TA does not lift it: only DANE-EE ignores the WebPKI
    ta_chain = certs.chain("valid", HOST)
    result = judge(ta_chain, [], tlsa=[_tlsa(2, 1, 1, certs.inter_cert)])
    assert codes(result) == ["dane.ok", "tls.untrusted"]
    assert result.findings[1].severity is Severity.ERROR


def test_probe_result_json(certs, roots):
    result = judge(certs.chain("valid", HOST), roots)
    data = result.to_json()
    assert data["sans"] == [HOST] and data["protocol"] == "TLSv1.3"
    assert data["spki_sha256"] == result.spki_sha256


def _no_san_leaf(certs, *, self_signed=False):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    issuer = name if self_signed else certs.inter_cert.subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .sign(key if self_signed else certs.inter_key, hashes.SHA256())
    )
    return [cert] if self_signed else [cert, certs.inter_cert]


def test_leaf_without_san_is_a_host_mismatch_but_can_be_trusted(certs, roots):
    # CN-only certificates: senders match SAN DNS names only; the chain itself is still judged
    result = judge(_no_san_leaf(certs), roots)
    assert codes(result) == ["tls.host-mismatch"]
    assert "no DNS names" in result.findings[0].message
    result = judge(_no_san_leaf(certs, self_signed=True), roots)
    assert codes(result) == ["tls.host-mismatch", "tls.untrusted"]
