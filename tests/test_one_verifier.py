"""One certificate verifier: the STARTTLS chain verdict agrees with the policy fetch's TLS client.

The policy fetch trusts what ``net.trust.client_context`` (Python's ``ssl``, i.e. OpenSSL)
accepts in a real handshake; the probe judges the presented chain with
``net.trust.verify_store``. For each kind of chain the test CA issues, a real in-memory TLS
handshake against the server context presenting it is compared with the probe's verdict.
"""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
from peers.tls import CertFactory

from tlsrpt_tui.core.checks.tls_verify import verify_chain
from tlsrpt_tui.net.trust import client_context, verify_store

NAME = "mx1.verifier.test"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("one-verifier"))


def handshake_accepts(server: ssl.SSLContext, client: ssl.SSLContext) -> bool:
    """A real TLS handshake over memory BIOs; False when the client rejects the chain."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    cli = client.wrap_bio(c_in, c_out, server_hostname=NAME)
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(20):
        done = 0
        for side, out, peer_in in ((cli, c_out, s_in), (srv, s_out, c_in)):
            try:
                side.do_handshake()
                done += 1
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except ssl.SSLCertVerificationError:
                return False
            except ssl.SSLError:
                if side is srv:  # the server sees the client's alert after a rejection
                    pass
                else:
                    raise
            data = out.read()
            if data:
                peer_in.write(data)
        if done == 2:
            return True
    raise AssertionError("the handshake did not finish")


@pytest.mark.parametrize("kind", ["valid", "trustme", "expiring", "self-signed"])
def test_probe_and_policy_fetch_agree(certs: CertFactory, kind: str) -> None:
    ca_file = str(certs.ca_file)
    fetch_accepts = handshake_accepts(certs.context(kind, NAME), client_context(ca_file))
    reason = verify_chain(certs.chain(kind, NAME), verify_store(ca_file), dt.datetime.now(dt.UTC))
    assert fetch_accepts == (reason is None), reason
    assert fetch_accepts == (kind != "self-signed")


def test_trustme_leaf_is_trusted_although_webpki_rejects_it(certs: CertFactory) -> None:
    """The reproduction of issue 9: OpenSSL (senders, the policy fetch) accepts trustme's leaf,
    cryptography's WebPKI verifier does not; the probe goes with OpenSSL."""
    from cryptography.x509 import verification

    chain = certs.chain("trustme", NAME)
    strict = (
        verification.PolicyBuilder()
        .store(verification.Store([certs.root_cert]))
        .build_server_verifier(verification.DNSName(NAME))
    )
    with pytest.raises(verification.VerificationError, match="critical"):
        strict.verify(chain[0], chain[1:])
    assert verify_chain(chain, verify_store(str(certs.ca_file)), dt.datetime.now(dt.UTC)) is None


def test_without_the_ca_file_the_test_ca_is_untrusted(certs: CertFactory) -> None:
    reason = verify_chain(certs.chain("valid", NAME), verify_store(None), dt.datetime.now(dt.UTC))
    assert reason is not None and "issuer" in reason
    assert not handshake_accepts(certs.context("valid", NAME), client_context(None))


def test_expired_intermediate_is_untrusted(certs: CertFactory) -> None:
    chain = certs.chain("valid", NAME)
    later = certs.inter_cert.not_valid_after_utc + dt.timedelta(days=1)
    reason = verify_chain(chain, verify_store(str(certs.ca_file)), later)
    assert reason is not None and "not valid now" in reason
