"""Alert mail in each security mode of alerts.md, against real aiosmtpd servers (trustme CA):
``tls`` (TLS from the first byte) with AUTH and the password from ``password_command``,
``plain`` to a local relay without AUTH, and a server whose certificate is not trusted: a
clear error, nothing sent in the clear."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import trustme
from peers.alert_peers import PASSWORD, USER, SubmissionServer

from tlsrpt_tui.core.alerts import Alert
from tlsrpt_tui.net.alert_send import SendError
from tlsrpt_tui.service.config import MailChannel
from tlsrpt_tui.service.deliver import sender_for

# aiosmtpd does not count TLS from the first byte as TLS when AUTH is required; it is.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

ALERT = Alert("report.failures", "report.failures:k1", "error", "example.com",
              "3 failed sessions reported by Google Inc. (certificate-expired 3)",
              {"failed": 3}, body="what happened", raised_at="2026-12-01T12:00:00+00:00")


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return authority, ca_file


def _server(authority: trustme.CA, tmp_path: Path, mode: str) -> SubmissionServer:
    try:
        return SubmissionServer(authority, tmp_path, mode=mode).start()
    except Exception as exc:
        pytest.fail(f"SMTP peer ({mode}) could not start: {exc}")


async def test_implicit_tls_with_auth_from_a_password_command(
        tmp_path: Path, ca: tuple[trustme.CA, Path]) -> None:
    authority, ca_file = ca
    server = _server(authority, tmp_path, "tls")
    try:
        script = tmp_path / "pw.py"
        script.write_text(f"print({PASSWORD!r})\n")
        channel = MailChannel(
            host=server.host, port=server.port, security="tls", username=USER,
            password_command=f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}",
            ca_file=str(ca_file), to=("postmaster@example.test",), name="mail#1 (tls)")
        await sender_for(channel)(ALERT)
        [mail] = server.received.messages
        assert mail["Subject"] == f"[tlsrpt-tui] example.com: {ALERT.summary}"
        assert mail["Message-ID"] == ALERT.message_id
    finally:
        server.stop()


async def test_plain_to_a_local_relay_without_auth(
        tmp_path: Path, ca: tuple[trustme.CA, Path]) -> None:
    authority, _ = ca
    server = _server(authority, tmp_path, "plain")
    try:
        channel = MailChannel(host=server.host, port=server.port, security="plain",
                              to=("postmaster@example.test",), name="mail#1 (relay)")
        await sender_for(channel)(ALERT)
        [mail] = server.received.messages
        assert mail.get_content_type() == "text/plain" and mail["To"] == "postmaster@example.test"
    finally:
        server.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_an_untrusted_server_certificate_is_an_error_and_nothing_is_sent(
        tmp_path: Path, ca: tuple[trustme.CA, Path], security: str) -> None:
    authority, _ = ca
    server = _server(authority, tmp_path, security)
    try:
        # No ca_file: the system roots, which do not know the test CA.
        channel = MailChannel(host=server.host, port=server.port, security=security,
                              username=USER, password=PASSWORD,
                              to=("postmaster@example.test",), name="mail#1 (untrusted)")
        with pytest.raises(SendError) as info:
            await sender_for(channel)(ALERT)
        assert "mail#1 (untrusted)" in str(info.value)
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate" in str(
            info.value).lower()
        assert PASSWORD not in str(info.value)
        assert server.received.messages == []
    finally:
        server.stop()


async def test_the_smtp_password_from_the_keyring_under_the_smtp_user_name(
        tmp_path: Path, ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``keyring = true`` "as for [[accounts]]": service tlsrpt-tui, user = the channel's SMTP
    user name (its generated name "mail#1 (host)" is nothing the admin wrote); a missing entry
    says the command that stores it, quoted for a shell."""
    import json

    import keyring
    from peers.file_keyring import FileKeyring

    from tlsrpt_tui.service.secrets import SecretError, get_password

    authority, ca_file = ca
    entries = tmp_path / "keyring.json"
    monkeypatch.setenv("TLSRPT_TEST_KEYRING_FILE", str(entries))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    server = _server(authority, tmp_path, "starttls")
    try:
        channel = MailChannel(host=server.host, port=server.port, security="starttls",
                              username=USER, keyring=True, ca_file=str(ca_file),
                              to=("postmaster@example.test",), name="mail#1 (127.0.0.1)")
        with pytest.raises(SecretError) as info:
            get_password(channel)
        assert str(info.value) == (f"mail#1 (127.0.0.1): no password in the keyring; store one"
                                   f" with 'keyring set tlsrpt-tui {USER}'")
        entries.write_text(json.dumps({f"tlsrpt-tui/{USER}": PASSWORD}))
        await sender_for(channel)(ALERT)
        assert len(server.received.messages) == 1
    finally:
        server.stop()
        keyring.set_keyring(previous)
