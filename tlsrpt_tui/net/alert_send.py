"""Sending one alert: a text/plain UTF-8 mail with aiosmtplib, or a JSON POST with httpx.

Both raise ``SendError`` with a message safe to log and show: the server's reply or the kind of
network failure, never a password and never the webhook URL (it often carries a token).
TLS is verified by default (system roots plus the channel's ``ca_file``).
"""

from __future__ import annotations

import email.policy
import email.utils
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiosmtplib
import httpx

from tlsrpt_tui.core.alerts import Alert, mail_text, safe_line
from tlsrpt_tui.net.trust import TrustError, client_context

if TYPE_CHECKING:  # the settings' shape only: net/ does not depend on service/
    from tlsrpt_tui.service.config import MailChannel, WebhookChannel


class SendError(Exception):
    """An alert could not be handed over; the message names the channel and the reason."""


def build_mail(channel: MailChannel, alert: Alert) -> EmailMessage:
    """The alert mail; every header value is one sanitised line (no header injection)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = alert.subject
    msg["From"] = safe_line(channel.sender, 300)
    msg["To"] = ", ".join(safe_line(t, 300) for t in channel.to)
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = alert.message_id
    msg["X-Tlsrpt-Alert"] = f"{alert.code} {alert.severity}"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail_text(alert), subtype="plain", charset="utf-8")
    return msg


def _context(ca_file: str | None, where: str) -> ssl.SSLContext:
    try:
        return client_context(ca_file)
    except TrustError as exc:
        raise SendError(f"{where}: {exc}") from exc


async def send_mail(channel: MailChannel, alert: Alert, password: str | None) -> None:
    msg = build_mail(channel, alert)
    where = channel.name or f"mail ({channel.host})"
    ctx = None if channel.security == "plain" else _context(channel.ca_file, where)
    try:
        await aiosmtplib.send(
            msg,
            hostname=channel.host,
            port=channel.port,
            use_tls=channel.security == "tls",
            start_tls=channel.security == "starttls",
            tls_context=ctx,
            username=channel.username if channel.username else None,
            password=password if channel.username else None,
            timeout=channel.timeout,
        )
    except aiosmtplib.SMTPResponseException as exc:
        raise SendError(f"{where}: server said {exc.code} {safe_line(exc.message, 200)}") from exc
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise SendError(f"{where}: {type(exc).__name__}: {safe_line(exc, 200)}") from exc


async def post_webhook(channel: WebhookChannel, alert: Alert) -> None:
    where = channel.name or f"webhook ({urlsplit(channel.url).hostname})"
    verify: ssl.SSLContext | bool = (
        _context(channel.ca_file, where) if channel.url.startswith("https:") else True
    )
    try:
        async with httpx.AsyncClient(verify=verify, timeout=channel.timeout) as client:
            reply = await client.post(
                channel.url, json=alert.webhook_payload(),
                headers={"User-Agent": "tlsrpt-tui", "Idempotency-Key": alert.message_id},
            )
    except httpx.HTTPError as exc:
        # The exception text may quote the URL (and its token): name the failure only.
        raise SendError(f"{where}: {type(exc).__name__}") from exc
    if not 200 <= reply.status_code < 300:
        raise SendError(f"{where}: HTTP {reply.status_code}")
