"""STARTTLS probe of one MX address on port 25 (aiosmtplib).

The handshake is done WITHOUT certificate verification (CERT_NONE, no hostname check, but with
SNI = the MX name, and old protocol versions allowed) so that it succeeds whenever a sender
could talk TLS at all; the presented chain is then judged by core/checks/tls_verify.py, which
gives each failure its own finding code (expired, untrusted, host mismatch, old version, DANE).

Getting the presented chain: Python 3.13 has ``SSLObject.get_unverified_chain()``; 3.10-3.12
have the same method on the private ``_sslobj`` (it returns ``_ssl.Certificate`` objects), which
is what we use there. Only if neither exists do we fall back to the leaf from
``getpeercert(binary_form=True)``; then chains are verified from the leaf + the trust store, so
a server that omits its intermediate is reported as untrusted (as senders would see it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from typing import Any

import aiosmtplib

from tlsrpt_tui.core.checks.dane import TlsaRecord
from tlsrpt_tui.core.checks.tls_verify import ProbeResult, finding, verify_presented
from tlsrpt_tui.net.targets import is_public
from tlsrpt_tui.net.trust import verify_store

_ENCODING_DER = 2  # _ssl.ENCODING_DER


@functools.lru_cache(maxsize=1)
def probe_context() -> ssl.SSLContext:
    """Unverified client context: the handshake must succeed so verification can be separate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # so TLS 1.0/1.1 servers are seen, and reported
    return ctx


def presented_chain(sslobj: Any) -> list[bytes]:
    """DER certificates the peer sent, leaf first (see the module docstring for why this way)."""
    getter = getattr(sslobj, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(sslobj, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        certs = getter() or []
        chain = [c if isinstance(c, bytes) else c.public_bytes(_ENCODING_DER) for c in certs]
        if chain:
            return chain
    leaf = sslobj.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _unreachable(result: ProbeResult, detail: str) -> ProbeResult:
    result.error = detail
    result.findings.append(finding("tls.unreachable", result.host, detail))
    return result


async def probe_mx(
    host: str,
    address: str,
    *,
    port: int = 25,
    ca_file: str | None = None,
    timeout: float = 10.0,
    tlsa: Sequence[TlsaRecord] | None = None,
    now: dt.datetime | None = None,
    helo_name: str | None = None,
    allow_private_targets: bool = False,
) -> ProbeResult:
    """Probe ``address``:``port`` (an address of MX ``host``) and judge what it presents.

    ``timeout`` bounds each step (connect+greeting, EHLO, STARTTLS); a server that drips
    bytes cannot hold the probe longer than three timeouts. Never raises for network problems:
    they become findings. A bad ``ca_file`` raises TrustError and an ``address`` that is not an
    IP address raises ValueError (caller errors, not findings). Like the policy fetch, a
    non-public address is refused before any connection unless ``allow_private_targets``: the
    domain owner chooses where its MX points, and the probe must not be a port scanner for
    the inside of the network it runs in.
    """
    try:
        ipaddress.ip_address(address)
    except ValueError:
        # A host name here would be resolved by the system resolver, bypassing ours.
        raise ValueError(f"probe_mx: address {address!r} is not an IP address") from None
    trust = verify_store(ca_file)
    result = ProbeResult(host=host, address=address, port=port)
    where = f"{host} at {address} port {port}"
    if not allow_private_targets and not is_public(address):
        return _unreachable(
            result,
            f"{where}: refused to connect: {address} is not a public address "
            "(set allow_private_targets to check internal hosts)",
        )
    result.attempted = True
    smtp = aiosmtplib.SMTP(
        hostname=address,
        port=port,
        timeout=timeout,
        use_tls=False,
        start_tls=False,
        local_hostname=helo_name or socket.gethostname(),
    )
    stage = "connect"
    try:
        async with asyncio.timeout(timeout * 3):
            try:
                await smtp.connect()
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                result.connected = _tcp_connected(exc)
                return _unreachable(result, f"{where}: {_describe(exc)}")
            result.reachable = result.connected = True
            stage = "ehlo"
            try:
                await smtp.ehlo()
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code < 0:  # our reader gave up (e.g. an over-long reply), not a refusal
                    return _unreachable(result, f"{where}: EHLO: {_describe(exc)}")
                result.starttls = False
                result.findings.append(
                    finding("tls.no-starttls", host, f"{where}: EHLO refused: {exc.code}")
                )
                return result
            except (aiosmtplib.SMTPException, OSError) as exc:
                return _unreachable(result, f"{where}: closed during EHLO: {_describe(exc)}")
            if not smtp.supports_extension("starttls"):
                result.starttls = False
                result.findings.append(
                    finding("tls.no-starttls", host, f"{where}: EHLO does not offer STARTTLS")
                )
                return result
            result.starttls = True
            stage = "starttls"
            try:
                await smtp.starttls(
                    server_hostname=host, validate_certs=False, tls_context=probe_context()
                )
            except (aiosmtplib.SMTPException, OSError, ValueError, TimeoutError) as exc:
                result.error = _describe(exc)
                result.findings.append(
                    finding("tls.handshake-failed", host, f"{where}: {_describe(exc)}")
                )
                return result
            sslobj = smtp.transport.get_extra_info("ssl_object") if smtp.transport else None
            if sslobj is None:
                result.findings.append(
                    finding("tls.handshake-failed", host, f"{where}: no TLS session")
                )
                return result
            result.protocol = sslobj.version()
            cipher = sslobj.cipher()
            result.cipher = cipher[0] if cipher else None
            result.chain = tuple(presented_chain(sslobj))
            stage = "quit"
            try:
                async with asyncio.timeout(min(timeout, 2.0)):
                    await smtp.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
    except TimeoutError:
        if stage != "quit":  # after the handshake, a server slow to say goodbye is fine
            detail = f"{where}: timed out during {stage}"
            if stage in ("connect", "ehlo"):
                return _unreachable(result, detail)
            result.error = detail
            result.findings.append(finding("tls.handshake-failed", host, detail))
            return result
    finally:
        smtp.close()
    return verify_presented(result, trust, now or dt.datetime.now(dt.UTC), tlsa)


def _tcp_connected(exc: BaseException) -> bool:
    """Whether a failed connect() got as far as an accepted TCP connection (then no greeting,
    a refusal code, or a hang-up): what tells a dead MX from a blocked outbound port 25."""
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
        return isinstance(exc.__cause__, aiosmtplib.SMTPTimeoutError)  # greeting timeout
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError | aiosmtplib.SMTPServerDisconnected):
        return True  # a refusal code, or a hang-up after the connection was accepted
    # refused, unreachable, no answer to the SYN; any other SMTP-level error: something answered
    return not isinstance(exc, aiosmtplib.SMTPConnectError | OSError | TimeoutError)


def _describe(exc: BaseException) -> str:
    """One line for the user: timeouts and refusals in plain words."""
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
        if isinstance(exc.__cause__, aiosmtplib.SMTPTimeoutError):
            return "connected, but the server sent no greeting before the timeout"
        return "timed out connecting (no answer)"
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return f"the server refused the session: {exc.code} {exc.message}".strip()
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return "timed out waiting for the server"
    if isinstance(exc, aiosmtplib.SMTPResponseException):  # e.g. STARTTLS answered with 454
        if exc.code < 0:  # aiosmtplib's own read failure, e.g. "Response too long"
            return f"unreadable reply from the server: {exc.message}"
        return f"the server answered {exc.code} {exc.message}".strip()
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, aiosmtplib.SMTPConnectError) and isinstance(exc.__cause__, OSError):
        return _describe(exc.__cause__)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
