"""A real Dovecot (Debian ``dovecot-imapd``, 2.3 syntax) on loopback, with a private config.

Run as root (CI and the dev machine do): Dovecot drops to ``dovecot``/``dovenull`` itself. The
whole instance lives in a fresh directory (config, sockets, state, Maildirs, logs), listens on
127.0.0.1 on two free high ports (plain IMAP with STARTTLS, and implicit TLS) with a certificate
from a trustme test CA, and authenticates users from a passwd-file. If Dovecot cannot start the
fixture raises: a test that needs the peer fails, it never skips.

Helpers cover what the IMAP tests need from the server side: append messages (IMAP APPEND or
straight into the Maildir for bulk), read flags, change UIDVALIDITY, list a folder's UIDs, and a
TCP proxy that cuts the connection after a number of bytes (a drop in the middle of a FETCH).
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "reports@example.test"
PASSWORD = "S3cret-pa55\"word\\x"  # quotes and backslashes: escaping must not leak it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot-info.log
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
default_login_user = dovenull
default_internal_user = dovecot
mail_privileged_group =
protocol imap {{
  mail_max_userip_connections = 50
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Archive {{
    auto = create
  }}
}}
"""


@dataclass
class Dovecot:
    """One running Dovecot instance and the handles a test needs."""

    root: Path
    imap_port: int
    imaps_port: int
    ca_file: Path
    user: str = USER
    password: str = PASSWORD
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    host = "127.0.0.1"

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    # -- client-side helpers (the standard library's imaplib: independent of the code tested)

    @contextlib.contextmanager
    def imap(self) -> Iterator[imaplib.IMAP4]:
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        try:
            conn.login(self.user, self.password)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def reset(self) -> None:
        """Delete every mailbox of the test user, so each test starts from an empty account."""
        subprocess.run(
            ["doveadm", "-c", str(self.config_path), "kick", self.user],
            capture_output=True,
            timeout=30,
            check=False,
        )
        shutil.rmtree(self.root / "mail" / self.user, ignore_errors=True)
        shutil.rmtree(self.root / "home" / self.user, ignore_errors=True)

    def create(self, folder: str) -> None:
        with self.imap() as conn:
            conn.create(_quote(folder))

    def append(self, messages: Iterable[bytes], folder: str = "INBOX") -> None:
        with self.imap() as conn:
            for msg in messages:
                typ, data = conn.append(_quote(folder), "", None, msg)
                if typ != "OK":
                    raise RuntimeError(f"APPEND failed: {data!r}")

    def append_maildir(self, messages: Iterable[bytes], folder: str = "INBOX") -> int:
        """Bulk-load messages by writing files into the Maildir's new/ (fast, for benches)."""
        base = self.root / "mail" / self.user
        if folder != "INBOX":
            base = base / ("." + folder.replace("/", "."))
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        n = 0
        stamp = int(time.time())
        for n, msg in enumerate(messages, start=1):
            (base / "new" / f"{stamp}.M{n}P{os.getpid()}.tlsrpt-test").write_bytes(msg)
        subprocess.run(["chown", "-R", "dovecot:dovecot", str(self.root / "mail")], check=True)
        return n

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[str, ...]]:
        """UID → flags of every message in a folder."""
        with self.imap() as conn:
            conn.select(_quote(folder), readonly=True)
            _typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            out: dict[int, tuple[str, ...]] = {}
            for item in data:
                if not isinstance(item, bytes):
                    continue
                m = re.search(rb"UID (\d+)", item)
                f = re.search(rb"FLAGS \(([^)]*)\)", item)
                if m and f:
                    out[int(m.group(1))] = tuple(f.group(1).decode().split())
            return out

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.imap() as conn:
            conn.select(_quote(folder), readonly=True)
            _typ, data = conn.uid("SEARCH", "ALL")
            return [int(x) for x in (data[0] or b"").split()]

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.imap() as conn:
            _typ, data = conn.status(_quote(folder), "(UIDVALIDITY)")
            m = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            assert m, data
            return int(m.group(1))

    def change_uidvalidity(self, folder: str, value: int) -> None:
        """Give a folder a new UIDVALIDITY, as a restored or rebuilt mailbox would have.

        The folder is emptied, given the new UIDVALIDITY with doveadm, and refilled with the
        same messages (which get new UIDs).
        """
        with self.imap() as conn:
            conn.select(_quote(folder))
            _typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
            bodies = [item[1] for item in data if isinstance(item, tuple)]
        subprocess.run(
            ["doveadm", "-c", str(self.config_path), "kick", self.user],
            capture_output=True,
            timeout=30,
            check=False,
        )
        with self.imap() as conn:
            conn.select(_quote(folder))
            conn.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
            conn.expunge()
        self.doveadm("mailbox", "update", "--uid-validity", str(value), folder)
        self.append(bodies, folder)

    def doveadm(self, *args: str) -> str:
        proc = subprocess.run(
            ["doveadm", "-c", str(self.config_path), *args[:2], "-u", self.user, *args[2:]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def log_text(self) -> str:
        parts = []
        for name in ("dovecot.log", "dovecot-info.log"):
            p = self.root / name
            if p.exists():
                parts.append(p.read_text(errors="replace"))
        return "\n".join(parts)

    def restart(self) -> None:
        """Stop the server (every session drops) and start it again on the same ports.

        Sessions are kicked first: a stopped master can leave its TLS proxy processes running
        for a while, which is not what a restart looks like to a client.
        """
        subprocess.run(
            ["doveadm", "-c", str(self.config_path), "kick", self.user],
            capture_output=True,
            timeout=30,
            check=False,
        )
        self.stop()
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        _wait_ready(self)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_dovecot(root: Path | None = None) -> Dovecot:
    """Start a private Dovecot; raises RuntimeError (with its log) if it does not come up."""
    import trustme

    if shutil.which("dovecot") is None:
        raise RuntimeError("dovecot is not installed (Debian package dovecot-imapd)")
    if os.geteuid() != 0:
        raise RuntimeError("the Dovecot peer must run as root (it drops privileges itself)")
    root = Path(tempfile.mkdtemp(prefix="tlsrpt-dovecot-")) if root is None else root
    root.chmod(0o755)  # the dovecot user must reach mail/ below it
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(exist_ok=True)
    subprocess.run(
        ["chown", "dovecot:dovecot", str(root / "mail"), str(root / "home")], check=True
    )
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(root / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    imap_port, imaps_port = free_port(), free_port()
    while imaps_port == imap_port:
        imaps_port = free_port()
    (root / "dovecot.conf").write_text(
        CONFIG.format(root=root, imap_port=imap_port, imaps_port=imaps_port)
    )
    dc = Dovecot(root, imap_port, imaps_port, root / "ca.pem")
    dc.process = subprocess.Popen(
        ["dovecot", "-F", "-c", str(dc.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _wait_ready(dc)
    return dc


def _wait_ready(dc: Dovecot) -> None:
    assert dc.process is not None
    imap_port, imaps_port = dc.imap_port, dc.imaps_port
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if dc.process.poll() is not None:
            out = dc.process.stdout.read().decode(errors="replace") if dc.process.stdout else ""
            raise RuntimeError(f"dovecot exited ({dc.process.returncode}): {out}\n{dc.log_text()}")
        try:
            with socket.create_connection((dc.host, imap_port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    with socket.create_connection((dc.host, imaps_port), timeout=1):
                        return
        except OSError:
            pass
        time.sleep(0.1)
    dc.stop()
    raise RuntimeError(f"dovecot did not answer on 127.0.0.1:{imap_port}\n{dc.log_text()}")


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    dc = start_dovecot()
    try:
        yield dc
    finally:
        dc.stop()
        shutil.rmtree(dc.root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The session's Dovecot with an empty account for this test."""
    dovecot_server.reset()
    return dovecot_server


def client_ssl_context(ca_file: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    return ctx


class DropProxy:
    """A TCP proxy to the server that cuts the connection after N bytes server→client.

    Runs in threads so it does not depend on the test's event loop. ``drop_after`` applies to
    each new connection until it is set to None; ``drops`` counts connections it cut.
    """

    def __init__(self, target_port: int, drop_after: int | None = None) -> None:
        self.target_port = target_port
        self.drop_after = drop_after
        self.drops = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self._closed = False
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self._conns += [client, upstream]
            limit = self.drop_after
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, limit), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: max(0, limit - sent)])
                    self.drops += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def cut(self) -> None:
        """Cut every connection open through the proxy now (a dropped line, a NAT timeout)."""
        conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.close()
        for s in self._conns:
            with contextlib.suppress(OSError):
                s.close()
