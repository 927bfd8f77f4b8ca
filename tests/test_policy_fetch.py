"""MTA-STS policy fetch against the real HTTPS peer on loopback (tests/peers/tls.py)."""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlsrpt_tui.core.checks.sts_policy import check_policy
from tlsrpt_tui.core.checks.tls_verify import cert_info
from tlsrpt_tui.core.findings import Severity
from tlsrpt_tui.net.policy_fetch import fetch_policy, is_public
from tlsrpt_tui.net.trust import TrustError

pytestmark = pytest.mark.peers

POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.{d}\r\nmax_age: 604800\r\n"


def codes(findings):
    return [f.code for f in findings]


async def fetch(peers, domain, **kw):
    kw.setdefault("ca_file", peers.ca_file)
    kw.setdefault("timeout", 3.0)
    kw.setdefault("allow_private_targets", True)
    addresses = kw.pop("addresses", [peers.https_address])
    return await fetch_policy(domain, addresses, **kw)


async def test_ok(tls_peers):
    tls_peers.set_policy("mta-sts.pf-ok.test", body=POLICY.format(d="pf-ok.test"))
    result = await fetch(tls_peers, "pf-ok.test")
    assert result.findings == []
    assert result.status == 200 and result.content_type == "text/plain"
    assert result.body == POLICY.format(d="pf-ok.test")
    assert result.url == "https://mta-sts.pf-ok.test/.well-known/mta-sts.txt"
    assert result.address == tls_peers.https_address
    findings, policy = check_policy(result.body, result.url)
    assert codes(findings) == ["sts.policy.ok"] and policy is not None


async def test_not_found(tls_peers):
    result = await fetch(tls_peers, "pf-missing.test")  # nothing configured: 404
    assert codes(result.findings) == ["sts.policy.fetch-error"]
    assert result.status == 404 and result.body is None
    assert "HTTP 404" in result.findings[0].message
    assert result.findings[0].result_type == "sts-policy-fetch-error"


async def test_server_error(tls_peers):
    tls_peers.set_policy("mta-sts.pf-500.test", status=500, body="oops")
    result = await fetch(tls_peers, "pf-500.test")
    assert codes(result.findings) == ["sts.policy.fetch-error"]
    assert result.body is None


@pytest.mark.parametrize("status", [301, 302, 307])
async def test_redirect_is_not_followed(tls_peers, status):
    host = f"mta-sts.pf-redir{status}.test"
    tls_peers.set_policy(host, status=status, location="https://mta-sts.pf-ok.test/x")
    result = await fetch(tls_peers, f"pf-redir{status}.test")
    assert codes(result.findings) == ["sts.policy.redirect"]
    assert result.status == status and result.body is None
    assert "https://mta-sts.pf-ok.test/x" in result.findings[0].message
    assert result.findings[0].result_type == "sts-policy-fetch-error"


@pytest.mark.parametrize("content_length", [True, False])
async def test_too_large(tls_peers, content_length):
    body = POLICY.format(d="pf-big.test")
    host = "mta-sts.pf-big.test"
    tls_peers.set_policy(host, body=body, size=200_000, content_length=content_length)
    result = await fetch(tls_peers, "pf-big.test")
    assert codes(result.findings) == ["sts.policy.too-large"]
    assert result.body is None
    # with a Content-Length we stop before reading; without one, after 64 KiB of the stream
    expected = "Content-Length 200000" if content_length else "more than 65536 bytes"
    assert expected in result.findings[0].message


async def test_exactly_64_kib_is_accepted(tls_peers):
    body = POLICY.format(d="pf-edge.test")
    tls_peers.set_policy("mta-sts.pf-edge.test", body=body, size=64 * 1024, content_length=False)
    result = await fetch(tls_peers, "pf-edge.test")
    assert result.findings == [] and result.body is not None and len(result.body) == 65536


async def test_wrong_content_type_is_a_warning(tls_peers):
    body = POLICY.format(d="pf-html.test")
    tls_peers.set_policy("mta-sts.pf-html.test", body=body, content_type="text/html")
    result = await fetch(tls_peers, "pf-html.test")
    assert codes(result.findings) == ["sts.policy.content-type"]
    assert result.findings[0].severity is Severity.WARNING
    assert result.body == body  # still usable
    tls_peers.set_policy(
        "mta-sts.pf-charset.test", body=body, content_type="text/plain; charset=utf-8"
    )
    assert (await fetch(tls_peers, "pf-charset.test")).findings == []


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (
            "version: STSv1\nmode: enforcing\nmx: mx.x.test\nmax_age: 86400\n",
            "sts.policy.invalid",
            "line 2",
        ),
        (
            "version: STSv1\nmode: enforce\nmx: mx.x.test\nmax_age: 99999999\n",
            "sts.policy.invalid",
            "line 4",
        ),
        (
            "version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 86400\n",
            "sts.policy.mx-pattern",
            "line 3",
        ),
    ],
)
async def test_invalid_policies_end_to_end(tls_peers, body, code, fragment):
    tls_peers.set_policy("mta-sts.pf-invalid.test", body=body)
    result = await fetch(tls_peers, "pf-invalid.test")
    assert result.findings == []
    findings, policy = check_policy(result.body, result.url)
    assert codes(findings) == [code] and policy is None
    assert fragment in findings[0].message


@pytest.mark.parametrize(
    ("cert", "fragment"),
    [
        ("expired", "has expired"),
        ("wrong-name", "not valid for mta-sts.pf-cert-wrong-name.test"),
        ("self-signed", "self-signed"),
    ],
)
async def test_certificate_problems(tls_peers, cert, fragment):
    domain = f"pf-cert-{cert}.test"
    tls_peers.set_policy(f"mta-sts.{domain}", body=POLICY.format(d=domain), cert=cert)
    result = await fetch(tls_peers, domain)
    assert codes(result.findings) == ["sts.policy.webpki"]
    assert fragment in result.findings[0].message
    assert result.findings[0].result_type == "sts-webpki-invalid"
    assert result.body is None


async def test_certificate_expiring_within_14_days_is_a_warning(tls_peers):
    """The policy host's certificate (5 days left) still verifies, the policy is used, and the
    fetch warns with the notAfter date and the key, which check.expiring announces once."""
    domain = "pf-cert-expiring.test"
    tls_peers.set_policy(f"mta-sts.{domain}", body=POLICY.format(d=domain), cert="expiring")
    result = await fetch(tls_peers, domain)
    assert codes(result.findings) == ["sts.policy.expiring-soon"]
    (soon,) = result.findings
    assert soon.severity is Severity.WARNING and soon.subject == f"mta-sts.{domain}"
    leaf = x509.load_der_x509_certificate(tls_peers.chain_der("expiring", f"mta-sts.{domain}")[0])
    assert f"expires {leaf.not_valid_after_utc:%Y-%m-%d} UTC" in soon.message
    assert cert_info(leaf).spki_sha256[:16] in soon.message
    assert result.body == POLICY.format(d=domain) and result.certificate == leaf.public_bytes(
        serialization.Encoding.DER)
    ok = await fetch(tls_peers, "pf-ok.test")
    assert ok.findings == [] and ok.certificate is not None


async def test_untrusted_without_the_ca_file(tls_peers):
    tls_peers.set_policy("mta-sts.pf-noca.test", body=POLICY.format(d="pf-noca.test"))
    result = await fetch(tls_peers, "pf-noca.test", ca_file=None)
    assert codes(result.findings) == ["sts.policy.webpki"]
    assert "not trusted" in result.findings[0].message


async def test_bad_ca_file_is_a_clear_error(tmp_path, tls_peers):
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificates here\n")
    with pytest.raises(TrustError, match=r"empty\.pem"):
        await fetch(tls_peers, "pf-ok.test", ca_file=str(empty))


async def test_ssrf_guard_refuses_private_targets(tls_peers):
    tls_peers.set_policy("mta-sts.pf-ssrf.test", body=POLICY.format(d="pf-ssrf.test"))
    result = await fetch(tls_peers, "pf-ssrf.test", allow_private_targets=False)
    assert codes(result.findings) == ["sts.policy.fetch-error"]
    assert "not a public address" in result.findings[0].message
    assert result.status is None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),
        ("8.8.8.8", True),
        ("2a00:1450:4001::1", True),
    ],
)
def test_is_public(address, public):
    assert is_public(address) is public


async def test_refused_and_fallback_to_next_address(tls_peers):
    refused = tls_peers.smtp["refused"]
    result = await fetch(tls_peers, "pf-ok.test", addresses=[refused])
    assert codes(result.findings) == ["sts.policy.fetch-error"]
    assert "connection refused" in result.findings[0].message
    tls_peers.set_policy("mta-sts.pf-ok.test", body=POLICY.format(d="pf-ok.test"))
    result = await fetch(tls_peers, "pf-ok.test", addresses=[refused, tls_peers.https_address])
    assert result.findings == [] and result.address == tls_peers.https_address


async def test_silent_host_times_out_within_the_timeout(tls_peers):
    started = time.monotonic()
    result = await fetch(tls_peers, "pf-ok.test", addresses=[tls_peers.smtp["silent"]], timeout=1.5)
    elapsed = time.monotonic() - started
    assert codes(result.findings) == ["sts.policy.fetch-error"]
    assert 1.0 < elapsed < 3.0
    assert "no answer" in result.findings[0].message or "timed out" in result.findings[0].message


async def test_no_addresses(tls_peers):
    result = await fetch(tls_peers, "pf-ok.test", addresses=[], dns_error="NXDOMAIN")
    assert codes(result.findings) == ["sts.policy.fetch-error"]
    assert "NXDOMAIN" in result.findings[0].message


# -- Content-Encoding: asked for identity, decoded with a bound when applied anyway ----------
POLICY = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 604800\n"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
async def test_compressed_policy_is_decoded(tls_peers, encoding):
    domain = f"pf-{encoding}.test"
    tls_peers.set_policy(f"mta-sts.{domain}", body=POLICY, content_encoding=encoding)
    result = await fetch(tls_peers, domain)
    assert result.findings == [] and result.body == POLICY


async def test_compressed_over_the_limit_is_too_large(tls_peers):
    """70,000 bytes of text compress to a few hundred: the limit is on the decoded text."""
    tls_peers.set_policy("mta-sts.pf-gzbig.test", body=POLICY, size=70000, content_encoding="gzip")
    result = await fetch(tls_peers, "pf-gzbig.test")
    assert [f.code for f in result.findings] == ["sts.policy.too-large"]


@pytest.mark.parametrize("encoding", ["br", "gzip, gzip", "x-unknown"])
async def test_undecodable_encoding_is_a_fetch_error(tls_peers, encoding):
    domain = f"pf-enc{len(encoding)}.test"
    tls_peers.set_policy(f"mta-sts.{domain}", body=POLICY, content_encoding=encoding)
    result = await fetch(tls_peers, domain)
    assert [f.code for f in result.findings] == ["sts.policy.fetch-error"]
    assert "asked for identity" in result.findings[0].message


def test_bounded_decoder_holds_at_most_the_limit():
    import gzip
    import zlib

    from tlsrpt_tui.net.policy_fetch import BoundedDecoder

    two_members = gzip.compress(b"version: STSv1\n") + gzip.compress(b"mode: testing\n")
    decoder = BoundedDecoder("gzip", 1000)
    for i in range(0, len(two_members), 7):  # fed in small pieces
        decoder.feed(two_members[i : i + 7])
    assert decoder.finish() == b"version: STSv1\nmode: testing\n"
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = bomb.compress(bytes(50 * 2**20)) + bomb.flush()  # 50 MiB of zeros, ~50 KB
    decoder = BoundedDecoder("x-gzip", 64 * 1024)
    decoder.feed(data)
    assert decoder.too_large and len(decoder.data) == 64 * 1024 + 1
    truncated = BoundedDecoder("gzip", 1000)
    truncated.feed(gzip.compress(b"version: STSv1\n")[:-6])
    with pytest.raises(ValueError, match="ends before"):
        truncated.finish()
    with pytest.raises(ValueError, match="corrupt"):
        BoundedDecoder("gzip", 1000).feed(b"not gzip at all")
