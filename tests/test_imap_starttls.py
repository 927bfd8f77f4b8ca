"""IMAP ``security = "starttls"`` against a man in the middle, on the real Dovecot (issue 9).

tests/peers/faulty.py's StarttlsDowngradeProxy sits between the client and Dovecot's
plaintext port and strips STARTTLS from the capabilities, refuses STARTTLS, or appends
plaintext responses right after the server's OK to STARTTLS. Each attack must stop the
connection with a clear ImapTLSError, and no credential may ever be sent in clear: the
proxy's record of what the client sent is searched for LOGIN, AUTHENTICATE and the password.
A control run straight to Dovecot shows STARTTLS and the login do work there.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Iterator

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.faulty import StarttlsDowngradeProxy

from tlsrpt_tui.net.imap import ImapClient, ImapTLSError
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.sync import sync_account
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

PASSWORD_ENV = "TLSRPT_STARTTLS_TEST_PASSWORD"
EXPECTED = {
    "strip": "does not offer STARTTLS",
    "refuse": "refused STARTTLS",
    "inject": "unexpected data after STARTTLS",
}


def start_proxy(dovecot: Dovecot, mode: str) -> StarttlsDowngradeProxy:  # noqa: F811
    last: Exception | None = None
    for _ in range(10):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        try:
            return StarttlsDowngradeProxy(address, dovecot.imap_port, mode).start()
        except OSError as exc:
            last = exc
    pytest.fail(f"STARTTLS attack proxy could not start: {last!r}")


@pytest.fixture(params=sorted(EXPECTED))
def attack(request: pytest.FixtureRequest, dovecot: Dovecot) -> Iterator[StarttlsDowngradeProxy]:  # noqa: F811
    proxy = start_proxy(dovecot, request.param)
    yield proxy
    proxy.stop()


def assert_no_credential_in_clear(proxy: StarttlsDowngradeProxy, dovecot: Dovecot) -> None:  # noqa: F811
    sent = bytes(proxy.client_sent)
    plain = base64.b64encode(f"\0{dovecot.user}\0{dovecot.password}".encode())
    for secret in (b"LOGIN", b"AUTHENTICATE", dovecot.password.encode(), plain):
        assert secret.lower() not in sent.lower(), f"{secret!r} was sent in clear: {sent!r}"


async def test_client_refuses_a_downgraded_starttls(
    attack: StarttlsDowngradeProxy,
    dovecot: Dovecot,  # noqa: F811
) -> None:
    with pytest.raises(ImapTLSError, match=EXPECTED[attack.attack]):
        client = await ImapClient.connect(
            attack.address, attack.port, security="starttls", ca_file=str(dovecot.ca_file),
            timeout=5.0,
        )  # fmt: skip
        await client.login(dovecot.user, dovecot.password)  # never reached
    assert_no_credential_in_clear(attack, dovecot)
    if attack.attack == "refuse":
        assert b"STARTTLS" in bytes(attack.client_sent).upper()  # it asked, and stopped


async def test_sync_stops_with_a_clear_error(
    attack: StarttlsDowngradeProxy,
    dovecot: Dovecot,  # noqa: F811
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    account = AccountSettings(
        name="mitm", host=attack.address, port=attack.port, security="starttls",
        username=dovecot.user, password_env=PASSWORD_ENV, ca_file=str(dovecot.ca_file),
    )  # fmt: skip
    with Store(tmp_path / "s.sqlite3") as store, pytest.raises(ImapTLSError) as info:
        await asyncio.wait_for(sync_account(store, account, timeout=5.0), 30)
    message = str(info.value)
    assert EXPECTED[attack.attack] in message and attack.address in message
    assert dovecot.password not in message
    assert_no_credential_in_clear(attack, dovecot)


async def test_control_starttls_straight_to_dovecot_logs_in(dovecot: Dovecot) -> None:  # noqa: F811
    client = await ImapClient.connect(
        dovecot.host, dovecot.imap_port, security="starttls", ca_file=str(dovecot.ca_file),
        timeout=10.0,
    )  # fmt: skip
    try:
        assert "STARTTLS" not in client.capabilities  # asked again, over TLS
        await client.login(dovecot.user, dovecot.password)
    finally:
        await client.logout()
