"""IMAP client for the report inbox: a thin, defensive wrapper around aioimaplib.

Why a wrapper: the sync needs a few things aioimaplib leaves to the caller — a verified TLS
context (with an extra CA), STARTTLS, secrets that never reach a log line or an exception, a
prompt error when the connection drops in the middle of a command (aioimaplib only notices on a
timeout), and FETCH responses parsed into ``(uid, bytes)`` pairs. Everything read is read with
``BODY.PEEK[]`` so no ``\\Seen`` flag is set, and nothing is ever deleted except by the
archive move the user configured.

Errors are ``ImapError`` subclasses with one-line messages that name ``host:port`` and the
reason; they never carry the password or token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aioimaplib import aioimaplib as _aio

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Re-IDLE at most this often: servers may drop an IDLE after 30 minutes (RFC 2177).
IDLE_MAX_SECONDS = 25 * 60
#: aioimaplib parses a received chunk recursively, one frame per line; feeding it small slices
#: keeps the recursion shallow whatever the server sends.
_FEED_SLICE = 8192
#: The most one literal of a response may hold: above the largest message a sync fetches
#: whole (it asks RFC822.SIZE first and keeps the parser's 50 MiB limit), so only a broken or
#: hostile server sends more, and reading on would only fill this process's memory.
MAX_LITERAL_BYTES = 64 * 1024 * 1024
#: The most one response line may hold (a FETCH line names a UID, a size and a literal).
MAX_LINE_BYTES = 1024 * 1024
#: The most aioimaplib may hold of a response it reads while no FETCH is pending (FETCH bodies
#: are read by ``_FastFetch``): it joins its held part to every new slice of data, so what it
#: holds costs its square in copying, and no other response (SEARCH, EXAMINE, a LIST with a
#: folder name, an IDLE update) comes near this size.
MAX_LIBRARY_BYTES = 4 * MAX_LINE_BYTES

_UIDVALIDITY_RE = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT_RE = re.compile(rb"\[UIDNEXT (\d+)\]")
_EXISTS_RE = re.compile(rb"^(\d+) EXISTS")
_FETCH_START_RE = re.compile(rb"(\d+) FETCH \(")  # used with match(): at the start
#: A line announcing a literal of n bytes after it.
_LITERAL_END_RE = re.compile(rb"\{(\d+)\}$")
_UID_ITEM_RE = re.compile(rb"[( ]UID (\d+)")
_SIZE_ITEM_RE = re.compile(rb"[( ]RFC822\.SIZE (\d+)")
#: How many UIDs one size query names (keeps each command line and response bounded).
SIZE_QUERY_CHUNK = 5000


class ImapError(Exception):
    """Any IMAP failure; the message is one line naming host:port and the reason."""


class ImapConnectError(ImapError):
    """TCP connection failed (refused, timed out, name not found)."""


class ImapTLSError(ImapError):
    """TLS could not be set up or the server's certificate is not trusted."""


class ImapAuthError(ImapError):
    """The server refused the credentials."""


class ImapProtocolError(ImapError):
    """The server answered NO/BAD or sent something we cannot make sense of."""


class ImapFolderError(ImapProtocolError):
    """A folder cannot be opened (missing, no permission); the connection is still fine."""


class ImapConnectionLost(ImapError):
    """The connection dropped while a command was running."""


class ImapTimeout(ImapError):
    """The server stopped answering."""


@dataclass(frozen=True, slots=True)
class FolderInfo:
    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int | None


def quote(text: str) -> str:
    """An IMAP quoted string (RFC 3501 §9)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_name(name: str) -> str:
    """A folder name as IMAP wants it on the wire: modified UTF-7 (RFC 3501 §5.1.3), quoted.

    Without this a folder such as "Rapports/Reçus" would be sent as raw UTF-8, which servers
    that have not enabled UTF8=ACCEPT reject or misread.
    """
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
                       + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return quote("".join(out))


def uid_set(uids: Iterable[int]) -> str:
    """Compress sorted UIDs into an IMAP sequence set: ``1:3,7,9:10``."""
    out: list[str] = []
    run_start = prev = None
    for uid in sorted(set(uids)):
        if run_start is None:
            run_start = prev = uid
        elif uid == prev + 1:  # type: ignore[operator]
            prev = uid
        else:
            out.append(f"{run_start}" if run_start == prev else f"{run_start}:{prev}")
            run_start = prev = uid
    if run_start is not None:
        out.append(f"{run_start}" if run_start == prev else f"{run_start}:{prev}")
    return ",".join(out)


#: How long a TLS context is reused for new connections (``ssl_context_for``).
SSL_CONTEXT_TTL = 600.0

#: ca_file -> (monotonic time made, context)
_SSL_CONTEXTS: dict[str | None, tuple[float, ssl.SSLContext]] = {}


def ssl_context_for(ca_file: str | None = None) -> ssl.SSLContext:
    """``make_ssl_context(ca_file)``, made once and shared by the connections of the next
    ``SSL_CONTEXT_TTL`` seconds.

    Why: loading the system trust store costs ~55 ms of CPU (OpenSSL parses every CA of the
    bundle), once per connection: per account of a ``sync``, per reconnect of ``watch``. A
    context is made to be shared by connections; after the TTL a new one is made, so a
    long-running watcher picks up a changed trust store or CA file within minutes."""
    now = time.monotonic()
    made = _SSL_CONTEXTS.get(ca_file)
    if made is not None and now - made[0] < SSL_CONTEXT_TTL:
        return made[1]
    ctx = make_ssl_context(ca_file)
    _SSL_CONTEXTS[ca_file] = (now, ctx)
    return ctx


def make_ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """System trust store plus an optional extra CA; hostname checking and TLS ≥ 1.2."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ImapTLSError(f"ca_file {ca_file}: cannot load: {reason}") from None
    return ctx


class _FetchCommand(_aio.FetchCommand):
    """FETCH whose "more data?" check is O(1) per line (the library's rescans every line).

    aioimaplib's own check joins and rescans all the lines received so far for each new line:
    quadratic in the lines of one response (aioimaplib alone reads FETCHes of 500 messages
    about half as fast as FETCHes of 200). Here a running parenthesis balance answers it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._balance = 0
        #: the reader's state while ``_Protocol`` reads this response itself (``_FastFetch``)
        self.fast: _FastFetch | None = None
        super().__init__(*args, **kwargs)

    def append_to_resp(self, line: bytes, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if type(line) is bytes:  # literals arrive as bytearray and do not count
            self.count(line)

    def count(self, line: bytes) -> None:
        """Note a response line's parentheses (a new ``n FETCH (`` starts from zero)."""
        if _FETCH_START_RE.match(line):
            self._balance = 0
        self._balance += line.count(b"(") - line.count(b")")

    def wait_data(self) -> bool:
        return self._balance > 0


class _ResponseTooLarge(Exception):
    """A line or literal over ``MAX_LINE_BYTES`` / ``MAX_LITERAL_BYTES``: the connection is
    closed with this text (what the server sent, never what we sent)."""


class _FastFetch:
    """Reads the response to one ``_FetchCommand`` straight from the received bytes.

    Why: aioimaplib parses every received chunk recursively, line by line, through several
    calls per line (copying the rest of the chunk at each line, re-arming a timer, matching
    half a dozen patterns), and cuts literals out of the same chunk; for a 10,000-message sync
    that was over a second of the event loop's CPU, the process that also writes the store.
    This reader keeps one growing buffer, finds each line with one search and takes each
    literal with one slice, and files lines and literals into the command exactly as the
    library would (``n FETCH (...`` lines without the ``* ``, literals as ``bytearray``), so
    ``parse_fetch_bodies`` reads either. It handles only the shape a FETCH response has;
    a tagged status line (wherever it comes, as the library checks it first on every line)
    and any other response between FETCH responses (an untagged EXISTS, EXPUNGE or alert)
    are handed back to the library with everything after them, at a line start, where the
    library reads them as it would have.
    """

    __slots__ = ("buf", "cmd", "need")

    def __init__(self, cmd: _FetchCommand) -> None:
        self.cmd = cmd
        self.buf = bytearray()
        self.need: int | None = None  # the size of the literal being read

    def feed(self, data: bytes) -> bytes | None:
        """Consume ``data``; None, or the bytes from the first line the library must read
        (this reader is then done)."""
        buf = self.buf
        buf += data
        cmd = self.cmd
        lines = cmd._resp_lines
        pos = 0
        end = len(buf)
        try:
            while True:
                if self.need is not None:
                    if end - pos < self.need:
                        return None  # the rest of the literal is still on its way
                    lines.append(buf[pos : pos + self.need])
                    pos += self.need
                    self.need = None
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if end - pos > MAX_LINE_BYTES:
                        raise _ResponseTooLarge(f"a line of over {MAX_LINE_BYTES} bytes")
                    return None
                if cmd._balance <= 0:  # between responses: only "* n FETCH (" is ours
                    if not buf.startswith(b"* ", pos) or not _FETCH_START_RE.match(
                        buf, pos + 2, eol
                    ):
                        return bytes(buf[pos:])  # the tagged end, or another response
                    line = bytes(buf[pos + 2 : eol])
                elif _aio.tagged_status_response_re.match(buf, pos, eol):
                    # a tagged status inside a response: the library ends the command (or
                    # fails on a stranger's tag) rather than wait for the parentheses to close
                    return bytes(buf[pos:])
                else:
                    line = bytes(buf[pos:eol])
                pos = eol + 2
                lines.append(line)
                cmd.count(line)
                if line.endswith(b"}") and (m := _LITERAL_END_RE.search(line)):
                    self.need = _literal_size(m.group(1))
        finally:
            del buf[:pos]


def _literal_size(digits: bytes) -> int:
    """A literal's announced size, unless it is over ``MAX_LITERAL_BYTES``."""
    if len(digits) > 12 or int(digits) > MAX_LITERAL_BYTES:
        raise _ResponseTooLarge(f"a literal of {digits[:20].decode()} bytes, over the "
                                f"{MAX_LITERAL_BYTES}-byte limit")
    return int(digits)


class _Protocol(_aio.IMAP4ClientProtocol):
    """aioimaplib's protocol, hardened: shallow parsing, no crash and no secret in asyncio logs."""

    def __init__(self, loop: asyncio.AbstractEventLoop, lost: asyncio.Event) -> None:
        super().__init__(loop, self._on_lost)
        self._lost = lost
        self.failure: str | None = None
        self.last_data = loop.time()
        #: Set while STARTTLS is pending: the tag of the command, to find its response.
        self.starttls_tag: bytes | None = None
        #: Bytes arrived after the server's response to STARTTLS, before the handshake.
        self.after_starttls = False
        self._starttls_seen: bytes | None = b""

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost.set()

    def _held_limit(self) -> int:
        """What the library may hold of one response (see ``MAX_LIBRARY_BYTES``)."""
        if "FETCH" in self.pending_async_commands:
            return MAX_LITERAL_BYTES + MAX_LINE_BYTES
        return MAX_LIBRARY_BYTES

    def _fast_fetch(self) -> _FastFetch | None:
        """The reader of the FETCH response being received, when ``_FastFetch`` can read it:
        our FETCH is the only command waiting and the library is between two lines (nothing
        half-read). Once started it reads until it hands back to the library."""
        if self.pending_sync_command is not None or len(self.pending_async_commands) != 1:
            return None
        cmd = self.pending_async_commands.get("FETCH")
        if type(cmd) is not _FetchCommand:
            return None
        if cmd.fast is None:
            if self.incomplete_line or self.current_command is not None or cmd._resp_lines:
                return None  # the library started on this response: it goes on with it
            cmd.fast = _FastFetch(cmd)
        return cmd.fast

    def _continuation(self, line: bytes) -> None:
        pending = self.pending_sync_command
        if pending is not None and pending.name == "AUTHENTICATE":
            # A failed SASL exchange ("+ <base64 error>", XOAUTH2): answer with an empty
            # response so the server sends its tagged NO instead of waiting for us.
            self.send("")
            return
        super()._continuation(line)

    def _watch_starttls(self, d: bytes) -> None:
        """Anything after the tagged response to STARTTLS, before TLS, was not protected: a
        man in the middle may have appended it (CVE-2011-0411), even as complete lines that
        the parser would take as genuine responses. Only the response may come."""
        if self.after_starttls:
            return
        if self._starttls_seen is None:  # the response was complete: nothing more may come
            self.after_starttls = bool(d)
            return
        self._starttls_seen += d
        tag = self.starttls_tag or b""
        start = 0 if self._starttls_seen.startswith(tag + b" ") else -1
        if start < 0:
            found = self._starttls_seen.find(b"\r\n" + tag + b" ")
            start = found + 2 if found >= 0 else -1
        if start < 0:
            self._starttls_seen = self._starttls_seen[-1024:]
            return
        end = self._starttls_seen.find(b"\r\n", start)
        if end < 0:
            return
        self.after_starttls = len(self._starttls_seen) > end + 2
        self._starttls_seen = None

    def data_received(self, d: bytes) -> None:
        self.last_data = self.loop.time()
        if self.starttls_tag is not None:
            self._watch_starttls(d)
        try:
            fetch = self._fast_fetch()
            if fetch is not None:
                rest = fetch.feed(d)
                if rest is None:
                    return
                fetch.cmd.fast = None  # done: the library reads the rest from a line start
                d = rest
            for i in range(0, len(d), _FEED_SLICE):
                super().data_received(d[i : i + _FEED_SLICE])
                if len(self.incomplete_line) > self._held_limit():
                    raise _ResponseTooLarge(f"a response of over {self._held_limit()} bytes")
        except _ResponseTooLarge as exc:
            self.failure = f"the server sent {exc}; the connection was closed"
            self._lost.set()
            if self.transport is not None:
                self.transport.close()
        except Exception as exc:
            # A response aioimaplib cannot handle. Its exception text may quote the pending
            # command (a LOGIN's arguments), so only the type is kept; the connection is closed.
            self.failure = f"unexpected response from the server ({type(exc).__name__})"
            self._lost.set()
            if self.transport is not None:
                self.transport.close()


class ImapClient:
    """One authenticated IMAP connection. Create with :meth:`connect`; use from one task."""

    def __init__(
        self,
        host: str,
        port: int,
        protocol: _Protocol,
        lost: asyncio.Event,
        timeout: float,
    ) -> None:
        self.host = host
        self.port = port
        self.where = f"{host}:{port}"
        self._p = protocol
        self._lost = lost
        self.timeout = timeout
        self._secrets: list[str] = []
        self.selected: FolderInfo | None = None
        self.readonly = True

    # -- connection ------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        security: str = "tls",
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> ImapClient:
        """Open a connection and read the greeting; TLS per ``security`` (tls/starttls/plain)."""
        where = f"{host}:{port}"
        if security not in ("tls", "starttls", "plain"):
            raise ImapError(f"{where}: unknown security mode {security!r}")
        # off the loop: OpenSSL reads the trust store without holding the GIL
        ctx = (await asyncio.to_thread(ssl_context_for, ca_file)
               if security != "plain" else None)
        if security == "plain":
            log.warning(
                "%s: security = plain: the password and the reports travel unencrypted", where
            )
        loop = asyncio.get_running_loop()
        lost = asyncio.Event()
        protocol = _Protocol(loop, lost)
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: protocol,
                    host,
                    port,
                    ssl=ctx if security == "tls" else None,
                    server_hostname=host if security == "tls" else None,
                ),
                timeout,
            )
        except Exception as exc:
            raise _connect_error(exc, where, timeout) from None
        client = cls(host, port, protocol, lost, timeout)
        try:
            await client._call("greeting", protocol.wait("AUTH|NONAUTH"))
            if security == "starttls":
                await client._starttls(ctx)  # type: ignore[arg-type]
        except ImapTimeout:
            client.abort()
            raise ImapProtocolError(f"{where}: no IMAP greeting within {timeout:g}s") from None
        except BaseException:
            client.abort()
            raise
        return client

    async def _starttls(self, ctx: ssl.SSLContext) -> None:
        if "STARTTLS" not in self._p.capabilities:
            raise ImapTLSError(f"{self.where}: server does not offer STARTTLS")
        tag = self._p.new_tag()
        self._p.starttls_tag = tag.encode()
        resp = await self._exec("STARTTLS", _aio.Command("STARTTLS", tag))
        if resp.result != "OK":
            raise ImapTLSError(f"{self.where}: server refused STARTTLS: {_text(resp)}")
        if self._p.incomplete_line or self._p.after_starttls:
            # Bytes after the OK but before the handshake were not protected by TLS: a
            # man-in-the-middle could have injected responses (CVE-2011-0411 style).
            raise ImapTLSError(f"{self.where}: unexpected data after STARTTLS; not continuing")
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(self._p.transport, self._p, ctx, server_hostname=self.host),
                self.timeout,
            )
        except Exception as exc:
            raise _connect_error(exc, self.where, self.timeout) from None
        self._p.transport = transport
        self._p.starttls_tag = None  # what arrives now came through TLS
        await self._call("CAPABILITY", self._p.capability())

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(c.upper() for c in self._p.capabilities)

    def abort(self) -> None:
        """Drop the connection without a goodbye (used on errors and cancellation)."""
        if self._p.transport is not None:
            self._p.transport.close()

    async def logout(self) -> None:
        """Polite LOGOUT, best effort, then close."""
        try:
            if not self._lost.is_set():
                await self._call("LOGOUT", self._p.logout(), timeout=5)
        except ImapError:
            pass
        finally:
            self.abort()

    async def __aenter__(self) -> ImapClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            await self.logout()
        else:
            self.abort()

    # -- authentication --------------------------------------------------------------------

    async def login(self, user: str, password: str) -> None:
        """AUTHENTICATE PLAIN (with SASL-IR) when offered, else LOGIN."""
        self._secrets.append(password)
        caps = self.capabilities
        if "LOGINDISABLED" in caps and "AUTH=PLAIN" not in caps:
            raise ImapAuthError(
                f"{self.where}: server refuses plaintext login here (LOGINDISABLED); "
                "use security = tls or starttls"
            )
        try:
            if "AUTH=PLAIN" in caps and "SASL-IR" in caps:
                blob = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
                self._secrets.append(blob)
                cmd = _aio.Command("AUTHENTICATE", self._p.new_tag(), "PLAIN", blob)
                resp = await self._exec("AUTHENTICATE", cmd, scrub=blob)
            else:
                qpw = quote(password)
                self._secrets.append(qpw)
                cmd = _aio.Command("LOGIN", self._p.new_tag(), quote(user), qpw)
                resp = await self._exec("LOGIN", cmd, scrub=qpw)
        except ValueError:
            raise ImapAuthError(
                f"{self.where}: the user name or password contains a line break or NUL"
            ) from None
        except UnicodeEncodeError:
            raise ImapAuthError(f"{self.where}: the user name cannot be sent") from None
        self._after_auth(resp, user)
        await self._call("CAPABILITY", self._p.capability())

    async def xoauth2(self, user: str, token: str) -> None:
        """AUTHENTICATE XOAUTH2 (Gmail, Microsoft 365) with a bearer token."""
        self._secrets.append(token)
        if "AUTH=XOAUTH2" not in self.capabilities:
            raise ImapAuthError(f"{self.where}: server does not offer AUTH=XOAUTH2")
        blob = base64.b64encode(f"user={user}\1auth=Bearer {token}\1\1".encode()).decode("ascii")
        self._secrets.append(blob)
        try:
            cmd = _aio.Command("AUTHENTICATE", self._p.new_tag(), "XOAUTH2", blob)
        except ValueError:
            raise ImapAuthError(f"{self.where}: the OAuth token contains a line break") from None
        resp = await self._exec("AUTHENTICATE", cmd, scrub=blob)
        self._after_auth(resp, user)
        await self._call("CAPABILITY", self._p.capability())

    def _after_auth(self, resp: Any, user: str) -> None:
        if resp.result == "OK":
            self._p.state = _aio.AUTH
            return
        raise ImapAuthError(
            f"login refused for user {user} on {self.where}: {self._scrub(_text(resp))}"
        )

    # -- mailbox ---------------------------------------------------------------------------

    async def select(self, folder: str, *, readonly: bool = True) -> FolderInfo:
        """EXAMINE (read-only: the server cannot set \\Seen) or SELECT when we must move mail."""
        name = "EXAMINE" if readonly else "SELECT"
        cmd = _aio.Command(name, self._p.new_tag(), mailbox_name(folder))
        resp = await self._exec(name, cmd)
        if resp.result != "OK":
            self._p.state = _aio.AUTH  # a failed SELECT leaves no folder selected
            self.selected = None
            raise ImapFolderError(f"{self.where}: cannot open folder {folder!r}: {_text(resp)}")
        self._p.state = _aio.SELECTED
        uidvalidity = uidnext = exists = None
        for line in resp.lines:
            if not isinstance(line, bytes):
                continue
            if m := _UIDVALIDITY_RE.search(line):
                uidvalidity = int(m.group(1))
            if m := _UIDNEXT_RE.search(line):
                uidnext = int(m.group(1))
            if m := _EXISTS_RE.match(line):
                exists = int(m.group(1))
        if uidvalidity is None:
            raise ImapProtocolError(f"{self.where}: folder {folder!r}: server sent no UIDVALIDITY")
        self.selected = FolderInfo(folder, uidvalidity, uidnext, exists)
        self.readonly = readonly
        return self.selected

    async def uids_from(self, first_uid: int) -> list[int]:
        """UIDs ≥ first_uid in the selected folder (``UID SEARCH UID n:*``), ascending."""
        first_uid = max(1, first_uid)
        cmd = _aio.Command("SEARCH", self._p.new_tag(), "UID", f"{first_uid}:*", prefix="UID")
        resp = await self._exec("UID SEARCH", cmd)
        if resp.result != "OK":
            raise ImapProtocolError(f"{self.where}: UID SEARCH failed: {_text(resp)}")
        uids: set[int] = set()
        # aioimaplib strips "* SEARCH " from untagged SEARCH lines: what is left is numbers.
        for line in resp.lines[:-1]:
            if not isinstance(line, bytes):
                continue
            if line.startswith(b"SEARCH"):
                line = line[6:]
            for tok in line.split():
                if not tok.isdigit():
                    raise ImapProtocolError(
                        f"{self.where}: UID SEARCH: unexpected token {tok[:40]!r}"
                    )
                uids.add(int(tok))
        # "n:*" also matches the last message when n is above every UID (RFC 3501 §6.4.8).
        return sorted(u for u in uids if u >= first_uid)

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """uid → RFC822.SIZE, so huge messages can be kept out of memory before fetching."""
        out: dict[int, int] = {}
        ordered = sorted(set(uids))
        for i in range(0, len(ordered), SIZE_QUERY_CHUNK):
            chunk = ordered[i : i + SIZE_QUERY_CHUNK]
            cmd = _FetchCommand(
                self._p.new_tag(), uid_set(chunk), "(UID RFC822.SIZE)", prefix="UID",
                loop=self._p.loop,
            )
            resp = await self._call(
                "UID FETCH RFC822.SIZE", self._p.execute(cmd), timeout=self.timeout,
                inactivity=True,
            )
            if resp.result != "OK":
                raise ImapProtocolError(
                    f"{self.where}: UID FETCH RFC822.SIZE failed: {_text(resp)}"
                )
            wanted = set(chunk)
            for line in resp.lines[:-1]:
                if type(line) is not bytes or not _FETCH_START_RE.match(line):
                    continue
                u, n = _UID_ITEM_RE.search(line), _SIZE_ITEM_RE.search(line)
                if u and n and int(u.group(1)) in wanted:
                    out[int(u.group(1))] = int(n.group(1))
        return out

    async def fetch_headers(self, uids: Sequence[int]) -> dict[int, bytes]:
        """``BODY.PEEK[HEADER]``: what is kept of a message too large to fetch whole."""
        return await self.fetch_bodies(uids, section="HEADER")

    async def fetch_bodies(self, uids: Sequence[int], section: str = "") -> dict[int, bytes]:
        """``UID FETCH set (UID BODY.PEEK[])``: uid → raw message (UIDs gone meanwhile: absent)."""
        if not uids:
            return {}
        cmd = _FetchCommand(
            self._p.new_tag(),
            uid_set(uids),
            f"(UID BODY.PEEK[{section}])",
            prefix="UID",
            loop=self._p.loop,
        )
        # No per-command timer (aioimaplib re-arms one per line, which costs more than the
        # parsing): the timeout is on inactivity, checked against the last data received.
        resp = await self._call(
            "UID FETCH", self._p.execute(cmd), timeout=self.timeout, inactivity=True
        )
        if resp.result != "OK":
            raise ImapProtocolError(f"{self.where}: UID FETCH failed: {_text(resp)}")
        wanted = set(uids)
        found = {
            uid: body
            for uid, body in parse_fetch_bodies(resp.lines[:-1], self.where, section).items()
            if uid in wanted
        }
        if len(found) < len(wanted):
            await self._check_gone(sorted(wanted - found.keys()))
        return found

    async def _check_gone(self, missing: list[int]) -> None:
        """UIDs a FETCH did not return must be gone (expunged meanwhile). If the server still
        lists them, the response was mangled (seen with garbage in the stream): fail, so the
        batch is not committed and the sync cannot move past mail it never stored."""
        cmd = _aio.Command("SEARCH", self._p.new_tag(), "UID", uid_set(missing), prefix="UID")
        resp = await self._exec("UID SEARCH", cmd)
        if resp.result != "OK":
            raise ImapProtocolError(f"{self.where}: UID SEARCH failed: {_text(resp)}")
        wanted = set(missing)
        still = sorted(
            int(tok)
            for line in resp.lines[:-1]
            if isinstance(line, bytes)
            for tok in line.removeprefix(b"SEARCH").split()
            if tok.isdigit() and int(tok) in wanted
        )
        if still:
            raise ImapProtocolError(
                f"{self.where}: UID FETCH returned no message for {len(still)} UID(s) the "
                f"server still has (first: {still[0]}): garbled response"
            )

    async def move(self, uids: Sequence[int], folder: str) -> None:
        """Move messages to ``folder`` (MOVE, or COPY + \\Deleted + UID EXPUNGE of just them)."""
        if not uids:
            return
        if self.readonly:
            raise ImapProtocolError(f"{self.where}: folder opened read-only, cannot move mail")
        uset = uid_set(uids)
        caps = self.capabilities
        if "MOVE" in caps:
            resp = await self._exec_move("MOVE", uset, folder)
            if resp.result != "OK":
                raise ImapProtocolError(
                    f"{self.where}: cannot move mail to {folder!r}: {_text(resp)}"
                )
            return
        if "UIDPLUS" not in caps:
            raise ImapProtocolError(
                f"{self.where}: server has neither MOVE nor UIDPLUS; archive_folder would need "
                "an EXPUNGE that could remove other deleted mail, so nothing was moved"
            )
        resp = await self._exec_move("COPY", uset, folder)
        if resp.result != "OK":
            raise ImapProtocolError(f"{self.where}: cannot copy mail to {folder!r}: {_text(resp)}")
        cmd = _aio.Command(
            "STORE",
            self._p.new_tag(),
            uset,
            "+FLAGS.SILENT",
            "(\\Deleted)",
            prefix="UID",
            untagged_resp_name="FETCH",
        )
        resp = await self._exec("UID STORE", cmd)
        if resp.result != "OK":
            raise ImapProtocolError(f"{self.where}: cannot flag moved mail: {_text(resp)}")
        cmd = _aio.Command("EXPUNGE", self._p.new_tag(), uset, prefix="UID")
        resp = await self._exec("UID EXPUNGE", cmd)
        if resp.result != "OK":
            raise ImapProtocolError(f"{self.where}: UID EXPUNGE failed: {_text(resp)}")

    async def _exec_move(self, name: str, uset: str, folder: str) -> Any:
        box = mailbox_name(folder)
        cmd = _aio.Command(name, self._p.new_tag(), uset, box, prefix="UID")
        resp = await self._exec(f"UID {name}", cmd)
        if resp.result == "NO" and b"TRYCREATE" in bytes(resp.lines[-1]):
            await self._exec("CREATE", _aio.Command("CREATE", self._p.new_tag(), box))
            cmd = _aio.Command(name, self._p.new_tag(), uset, box, prefix="UID")
            resp = await self._exec(f"UID {name}", cmd)
        return resp

    async def idle(self, seconds: float = IDLE_MAX_SECONDS) -> bool:
        """IDLE until the server reports a change or ``seconds`` pass (capped at 25 minutes).

        Returns True when the server pushed something (new mail, expunge); the caller then
        searches for new UIDs. Servers without IDLE: sleeps ``min(seconds, 60)`` and returns True.
        """
        seconds = max(0.0, min(seconds, IDLE_MAX_SECONDS))
        if "IDLE" not in self.capabilities:
            await self._call("NOOP wait", asyncio.sleep(min(seconds, 60.0)), timeout=None)
            return True
        p = self._p
        while not p.idle_queue.empty():
            p.idle_queue.get_nowait()
        idle_task = asyncio.ensure_future(p.idle())
        try:
            ack = asyncio.ensure_future(p.wait_for_idle_response())
            try:
                await self._call(
                    "IDLE", asyncio.wait({idle_task, ack}, return_when=asyncio.FIRST_COMPLETED)
                )
            finally:
                ack.cancel()
            if idle_task.done():
                resp = idle_task.result()
                raise ImapProtocolError(f"{self.where}: IDLE refused: {_text(resp)}")
            pushed = False
            try:
                lines = await self._call(
                    "IDLE", p.idle_queue.get(), timeout=seconds, abort_on_timeout=False
                )
                pushed = bool(lines)
            except ImapTimeout:
                pushed = False
            p.idle_done()
            await self._call("IDLE DONE", asyncio.shield(idle_task))
            return pushed
        finally:
            if not idle_task.done():
                idle_task.cancel()

    # -- plumbing --------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    async def _exec(
        self, what: str, cmd: _aio.Command, *, scrub: str | None = None, timeout: float | None = -1
    ) -> Any:
        return await self._call(what, self._p.execute(cmd, scrub=scrub), timeout=timeout)

    async def _call(
        self,
        what: str,
        aw: Awaitable[T],
        *,
        timeout: float | None = -1,
        inactivity: bool = False,
        abort_on_timeout: bool = True,
    ) -> T:
        """Await ``aw`` but give up as soon as the connection drops, or after ``timeout``.

        With ``inactivity`` the timeout counts from the last data received, not the start.
        """
        full = self.timeout if timeout == -1 else timeout
        limit = full
        task = asyncio.ensure_future(aw)
        if self._lost.is_set():
            task.cancel()
            raise self._lost_error(what)
        lost = asyncio.ensure_future(self._lost.wait())
        loop = asyncio.get_running_loop()
        try:
            while True:
                done, _ = await asyncio.wait(
                    {task, lost}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
                )
                if done or not inactivity or full is None:
                    break
                quiet = loop.time() - self._p.last_data
                if quiet >= full:
                    break
                limit = max(0.05, full - quiet)  # data came meanwhile: wait out the rest
        except BaseException:
            task.cancel()
            lost.cancel()
            raise
        lost.cancel()
        if task in done:
            try:
                return task.result()
            except _aio.CommandTimeout:
                self.abort()
                raise ImapTimeout(
                    f"{self.where}: no data from the server for {self.timeout:g}s during {what}"
                ) from None
            except _aio.AioImapException as exc:
                raise ImapProtocolError(
                    f"{self.where}: {what}: {self._scrub(str(exc))[:200]}"
                ) from None
            except (ssl.SSLError, OSError) as exc:
                raise ImapConnectionLost(f"{self.where}: {what}: {exc}") from None
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if lost in done:
            raise self._lost_error(what)
        if abort_on_timeout:  # a command left hanging: the connection's state is unknown
            self.abort()
        raise ImapTimeout(
            f"{self.where}: no data from the server for {self.timeout:g}s during {what}"
            if inactivity
            else f"{self.where}: no answer to {what} within {full:g}s"
        )

    def _lost_error(self, what: str) -> ImapError:
        if self._p.failure:
            return ImapProtocolError(f"{self.where}: {what}: {self._p.failure}")
        return ImapConnectionLost(f"{self.where}: connection lost during {what}")


def parse_fetch_bodies(
    lines: Sequence[Any], where: str = "server", section: str = ""
) -> dict[int, bytes]:
    """Pair each FETCH response's UID with its BODY[] literal.

    aioimaplib hands back a flat list: the text of each response line as ``bytes`` and each
    literal as a ``bytearray`` right after the line that announced it (``... BODY[] {123}``).
    Items may come in any order within one response, so the UID is taken from the text of the
    whole response. Responses without BODY[] (unsolicited flag updates) are skipped; a
    response with a body but no UID is an error: we could not record what we stored.
    """
    sec = re.escape(section.encode("ascii"))
    literal_re = re.compile(rb"BODY\[" + sec + rb"\] \{(\d+)\}$")
    nil_re = re.compile(rb"BODY\[" + sec + rb"\] NIL")
    out: dict[int, bytes] = {}
    uid: int | None = None
    body: bytes | None = None
    started = False
    expect_body = False

    def flush() -> None:
        if not started or body is None:
            return
        if uid is None:
            raise ImapProtocolError(f"{where}: FETCH response without a UID")
        out[uid] = body

    for item in lines:
        if isinstance(item, bytearray):
            if expect_body:
                body = bytes(item)
                expect_body = False
            continue
        if not isinstance(item, bytes):
            raise ImapProtocolError(f"{where}: unexpected FETCH response item {type(item)}")
        if _FETCH_START_RE.match(item):
            flush()
            started, uid, body, expect_body = True, None, None, False
        if not started:
            continue
        if m := _UID_ITEM_RE.search(item):
            uid = int(m.group(1))
        if literal_re.search(item):
            expect_body = True
        elif nil_re.search(item):
            body = b""
    flush()
    return out


def _text(resp: Any) -> str:
    """The server's text from a tagged response (last line), printable and bounded."""
    try:
        last = resp.lines[-1] if resp.lines else b""
        text = bytes(last).decode("utf-8", "replace")
    except Exception:
        text = ""
    text = "".join(ch if ch.isprintable() else "?" for ch in text).strip()
    return f"{resp.result} {text}"[:300].strip()


def _connect_error(exc: BaseException, where: str, timeout: float) -> ImapError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        return ImapTLSError(f"certificate of {where} not trusted: {reason}")
    if isinstance(exc, ssl.SSLError):
        return ImapTLSError(f"TLS handshake with {where} failed: {exc.reason or exc}")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ImapConnectError(f"cannot connect to {where}: timed out after {timeout:g}s")
    if isinstance(exc, ConnectionRefusedError):
        return ImapConnectError(f"cannot connect to {where}: connection refused")
    if isinstance(exc, socket.gaierror):
        return ImapConnectError(f"cannot connect to {where}: host name not found ({exc.strerror})")
    if isinstance(exc, OSError):
        return ImapConnectError(f"cannot connect to {where}: {exc.strerror or exc}")
    return ImapConnectError(f"cannot connect to {where}: {type(exc).__name__}: {exc}")
