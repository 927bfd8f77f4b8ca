"""Where alerts go in tests: a real SMTP submission server and a real HTTPS webhook receiver.

- ``SubmissionServer``: aiosmtpd on a random loopback port with STARTTLS (trustme CA) and
  AUTH LOGIN/PLAIN required; it records each accepted message (parsed) and can be stopped and
  started again on the same port (the "SMTP down for a while" case). ``mode="tls"`` speaks
  TLS from the first byte (port 465 style, AUTH required); ``mode="plain"`` is a local relay
  (no TLS, no AUTH).
- ``WebhookReceiver``: ``http.server`` over TLS (same CA) recording each JSON POST; it can
  answer 503 on demand.
Both keep what they received in memory and in a JSON-lines file, so a test that kills the
service can count deliveries across the whole run.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import http.server
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "alerts@example.test"
PASSWORD = "smtp-S3cret\"pw"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


class _Handler:
    def __init__(self, server: SubmissionServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.mode != "plain" and not session.authenticated:
            return "530 5.7.0 Authentication required"
        data = bytes(envelope.original_content or envelope.content)
        self.server._record(data)
        return "250 2.0.0 queued"


# aiosmtpd logs a warning about its own Session.login_data at each AUTH: not ours, and noisy.
logging.getLogger("mail.log").addFilter(lambda r: "login_data" not in r.getMessage())


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any):  # type: ignore[no-untyped-def]
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok)


class SubmissionServer:
    """aiosmtpd with STARTTLS required before AUTH (or ``mode`` "tls" / "plain", see the
    module docstring), on a random loopback port."""

    def __init__(self, ca: trustme.CA, tmp: Path, mode: str = "starttls") -> None:
        assert mode in ("starttls", "tls", "plain")
        self.mode = mode
        self.host = "127.0.0.1"
        self.port = free_port()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.ctx)
        self.log = tmp / "smtp-received.jsonl"
        self.received = Received()
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def _record(self, data: bytes) -> None:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        with self._lock:
            self.received.raw.append(data)
            self.received.messages.append(msg)  # type: ignore[arg-type]
            with self.log.open("a") as f:
                f.write(json.dumps({"message_id": msg["Message-ID"], "subject": msg["Subject"]})
                        + "\n")

    def start(self) -> SubmissionServer:
        options: dict[str, Any] = {
            "starttls": {"tls_context": self.ctx, "require_starttls": True,
                         "auth_required": True, "authenticator": _authenticator,
                         "auth_require_tls": True},
            # TLS from the first byte: the session is encrypted before AUTH
            "tls": {"ssl_context": self.ctx, "auth_required": True,
                    "authenticator": _authenticator, "auth_require_tls": False},
            "plain": {},
        }[self.mode]
        controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                ready_timeout=10, **options)
        deadline = time.monotonic() + 10
        while True:
            try:
                controller.start()
                break
            except Exception:  # the port is still in TIME_WAIT after a stop: try again
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            with contextlib.suppress(Exception):
                self._controller.stop()
            self._controller = None

    def logged(self) -> list[dict[str, str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


class _HookHandler(http.server.BaseHTTPRequestHandler):
    server: _HookServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.server.owner.fail_with:
            self.send_response(self.server.owner.fail_with)
            self.end_headers()
            return
        try:
            data = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        self.server.owner._record(self.path, data)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HookServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: WebhookReceiver


class WebhookReceiver:
    """HTTPS JSON receiver on a random loopback port; ``fail_with = 503`` makes it refuse."""

    def __init__(self, ca: trustme.CA, tmp: Path) -> None:
        cert = ca.issue_cert("localhost", "127.0.0.1")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.httpd = _HookServer(("127.0.0.1", 0), _HookHandler)
        self.httpd.owner = self
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.url = f"https://127.0.0.1:{self.port}/hook/s3cret-token"
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.fail_with = 0
        self.log = tmp / "webhook-received.jsonl"
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _record(self, path: str, data: dict[str, Any]) -> None:
        with self._lock:
            self.posts.append(data)
            self.paths.append(path)
            with self.log.open("a") as f:
                f.write(json.dumps(data) + "\n")

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def logged(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


@dataclass
class AlertPeers:
    ca_file: Path
    smtp: SubmissionServer
    webhook: WebhookReceiver

    def config_toml(self, password_env: str) -> str:
        """The ``[alerts]`` section pointing at both peers."""
        return (
            "[alerts]\n"
            "[[alerts.mail]]\n"
            f'host = "{self.smtp.host}"\nport = {self.smtp.port}\nsecurity = "starttls"\n'
            f'username = "{USER}"\npassword_env = "{password_env}"\n'
            f'ca_file = "{self.ca_file}"\n'
            'from = "tlsrpt-tui <alerts@example.test>"\nto = ["postmaster@example.test"]\n'
            "[[alerts.webhook]]\n"
            f'url = "{self.webhook.url}"\nca_file = "{self.ca_file}"\n'
        )


@pytest.fixture
def alert_peers(tmp_path: Path) -> Iterator[AlertPeers]:
    ca = trustme.CA()
    ca_file = tmp_path / "alert-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        smtp = SubmissionServer(ca, tmp_path).start()
        hook = WebhookReceiver(ca, tmp_path).start()
    except Exception as exc:
        pytest.fail(f"alert peers could not start: {exc}")
    try:
        yield AlertPeers(ca_file, smtp, hook)
    finally:
        smtp.stop()
        hook.stop()
