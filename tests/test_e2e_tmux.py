"""End-to-end: the INSTALLED ``tlsrpt-tui`` in tmux, driven by send-keys, read by capture-pane.

One run on the bundled demo (no network); one against real peers on loopback: Dovecot holding
TLS-RPT mail (the app's IMAP watch fetches it into the inbox) and Knot + Unbound serving a
DNSSEC-signed zone (the app's live check fills the DNS status panel). tmux runs on its own
socket, so nothing outside the test is touched.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from peers.dns import Zone, dns_peers_factory  # noqa: F401  (session fixture)
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import google_report, microsoft_report, unreadable_report

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
EXE = REPO / ".venv" / "bin" / "tlsrpt-tui"


class Tmux:
    """A tmux server on a private socket running one command at 80x24 (the app's minimum)."""

    def __init__(self, command: str, env: dict[str, str] | None = None) -> None:
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is not installed")
        self.socket = f"tlsrpt-e2e-{uuid.uuid4().hex[:8]}"
        self.session = "app"
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        wrapped = f"env TERM=xterm-256color {prefix} {command}; echo EXITED $?; sleep 120"
        self._tmux("new-session", "-d", "-s", self.session, "-x", "80", "-y", "24", wrapped)

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)
            time.sleep(0.15)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            try:
                text = self.screen()
            except RuntimeError as exc:
                raise AssertionError(
                    f"{exc} while waiting for {what}; last screen:\n{text}"
                ) from None
            if predicate(text):
                return text
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{text}")

    def pane_pid(self) -> int:
        return int(self._tmux("display", "-p", "-t", self.session, "#{pane_pid}"))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=20, check=False)


def children(pid: int, needle: str = "") -> list[int]:
    """The processes whose parent is ``pid`` (and whose command line holds ``needle``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z" and needle in cmdline:
            found.append(int(entry.name))
    return found


def wait_gone(pid: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if stat and stat.rsplit(")", 1)[1].split()[0] == "Z":
            return
        assert time.monotonic() < deadline, f"{what} is still running"
        time.sleep(0.1)


def tui_and_sync_process(tui: Tmux) -> tuple[int, int]:
    """(the app's pid, its sync process's pid), waiting for the sync process to start."""
    deadline = time.monotonic() + 30
    while True:
        apps = children(tui.pane_pid(), "tlsrpt-tui")
        workers = children(apps[0], "tlsrpt_tui.service.sync_worker") if apps else []
        if workers:
            return apps[0], workers[0]
        assert time.monotonic() < deadline, f"no sync process under the app: {apps}"
        time.sleep(0.1)


def newest_day(text: str) -> str:
    """The latest YYYY-MM-DD among the first two words of the screen's lines (the first
    may be the signature mark)."""
    days = [w for line in text.splitlines() for w in line.split()[:2]
            if len(w) == 10 and w[4] == w[7] == "-" and w[:4].isdigit()]
    return max(days)


@pytest.fixture
def tmux_factory() -> Iterator[Callable[..., Tmux]]:
    started: list[Tmux] = []

    def start(command: str, env: dict[str, str] | None = None) -> Tmux:
        t = Tmux(command, env)
        started.append(t)
        return t

    yield start
    for t in started:
        t.close()


def demo_totals(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The Total the demo's Overview must show: the demo built for today, summed here (its
    forged report listed but not counted)."""
    from datetime import UTC, datetime

    from tlsrpt_tui.core import tables
    from tlsrpt_tui.demo.store import build_demo_store
    from tlsrpt_tui.service import queries

    store, _ = build_demo_store(tmp_path / "demo.sqlite3", now=datetime.now(UTC))
    totals = tables.Totals()
    forged = queries.forged_reports(store)
    rows = 0
    for row in queries.overview_rows(store):
        totals.add(row, forged)
        rows += 1
    store.close()
    return totals, rows


def test_installed_app_on_demo_data(tmux_factory: Callable[..., Tmux], tmp_path: Path) -> None:
    assert EXE.exists(), f"{EXE.name} is not installed in .venv"
    tui = tmux_factory(f"{shlex.quote(str(EXE))} --demo")
    text = tui.wait_for(
        lambda s: "Dashboard" in s and "STARTTLS mx2.example.net" in s and "unreadable" in s,
        60,
        "the dashboard with the stored checks and the unreadable message",
    )
    assert "Google Inc." in text and "Microsoft Co" in text, text  # 80 columns: names are cut
    # 80x24: every domain's state on one line each, the failing item named
    for card in ("i example.com ", "✗ example.net ", "i example.org "):
        assert card in text, text
    assert "STARTTLS mx2.example.net" in text
    # the newest rows, with their Domain (after the signature mark)
    assert any("Date" in line and "Domain" in line for line in text.splitlines()), text
    newest = [line for line in text.splitlines() if newest_day(text) in line.split()[:2]]
    assert len(newest) >= 3 and all("example." in line for line in newest), text
    tui.keys("Down", "Enter")
    text = tui.wait_for(lambda s: "Report-ID" in s, 20, "the report screen")
    assert "Date range" in text and "Policies" in text
    tui.keys("Enter")
    tui.wait_for(lambda s: "Policy: STS for" in s and "Sessions:" in s, 20, "the policy screen")
    # one key at a time: a terminal's Escape waits to see whether a sequence follows, so keys
    # sent right after it can merge with it (ESC o is Alt+o)
    tui.keys("Escape")
    tui.wait_for(lambda s: "Policy: STS for" not in s and "Report-ID" in s, 20, "the report")
    tui.keys("Escape")
    tui.wait_for(lambda s: "Dashboard" in s, 20, "the dashboard")
    expected, rows = demo_totals(tmp_path)  # the demo's own count, built here as the app does
    tui.keys("o")
    text = tui.wait_for(lambda s: "Report Overview" in s and f"{rows:,} rows" in s, 20,
                        "the overview")
    # the counts beside the date and the Total with its numbers, docked: all on screen at once
    assert "Successful" in text and "Failed" in text
    total = next(line for line in text.splitlines() if line.strip().startswith("Total"))
    assert f"{rows:,} rows" in total, total
    assert f"successful {expected.successful:,}" in total and f"failed {expected.failed:,}" in total
    tui.keys("End")
    text = tui.wait_for(lambda s: f"row {rows:,}" in s, 20, "the last row after End")
    tui.keys("Escape")
    tui.wait_for(lambda s: "Report Overview" not in s, 20, "the dashboard again")
    tui.keys("?")
    tui.wait_for(lambda s: "tlsrpt-tui help" in s, 20, "the help screen")
    tui.keys("Escape")  # alone, then wait: an Escape followed at once by q reads as Alt+q
    tui.wait_for(lambda s: "tlsrpt-tui help" not in s, 20, "the help closed")
    tui.keys("q")
    tui.wait_for(lambda s: "Dashboard" not in s, 20, "the app to quit")


def start_on_dovecot(tmux_factory: Callable[..., Tmux], dovecot: Dovecot,  # noqa: F811
                     tmp_path: Path, config_head: str = "") -> Tmux:
    """The installed app on a fresh store, its config ``config_head`` and one account: the
    INBOX of ``dovecot``, the password in the app's environment."""
    config = tmp_path / "config.toml"
    config.write_text(
        config_head + "[[accounts]]\n"
        'name = "e2e"\nhost = "127.0.0.1"\n'
        f"port = {dovecot.imaps_port}\n"
        'security = "tls"\n'
        f'ca_file = "{dovecot.ca_file}"\n'
        f'username = "{dovecot.user}"\n'
        'password_env = "E2E_IMAP_PASSWORD"\n'
        'folders = ["INBOX"]\n'
    )
    config.chmod(0o600)
    db = tmp_path / "store.sqlite3"
    cmd = f"{shlex.quote(str(EXE))} --config {shlex.quote(str(config))} --db {shlex.quote(str(db))}"
    env = {"E2E_IMAP_PASSWORD": dovecot.password, "HOME": str(tmp_path)}
    if "PATH" in os.environ:
        env["PATH"] = os.environ["PATH"]
    return tmux_factory(cmd, env)


@pytest.mark.peers
def test_installed_app_against_dovecot_and_dns_peers(
    tmux_factory: Callable[..., Tmux],
    dovecot: Dovecot,  # noqa: F811
    dns_peers_factory,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert EXE.exists(), f"{EXE.name} is not installed in .venv"
    dovecot.append([google_report(1), microsoft_report(2, failures=True), unreadable_report(3)])
    dns = dns_peers_factory([Zone("test.", "\n".join([
        '_smtp._tls.e2e.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@e2e.test"',
        "e2e.test. MX 10 mx.e2e.test.",
        "mx.e2e.test. A 127.0.0.1",
    ]))])
    tui = start_on_dovecot(tmux_factory, dovecot, tmp_path, (
        'domains = ["e2e.test"]\n\n'
        "[checks]\n"
        f'resolver = "{dns.resolver}"\n'
        "probe = false\ntimeout = 5.0\ninterval = 3600\n\n"
    ))
    # the IMAP watch fetches the three messages; the live check fills the status panel
    text = tui.wait_for(
        lambda s: "Google" in s and "Microsoft" in s and "unreadable" in s, 60, "the synced inbox"
    )
    # ... in a process of its own, whose command line and environment hold no password
    _app, worker = tui_and_sync_process(tui)
    listing = Path(f"/proc/{worker}/cmdline").read_bytes() + Path(
        f"/proc/{worker}/environ").read_bytes()
    assert dovecot.password.encode() not in listing
    # At 80 columns each domain is one line: its glyph, one glyph per item in a fixed order
    # (TLS-RPT first), then the worst item's text; "checking…" until the check is stored.
    text = tui.wait_for(
        lambda s: any(" e2e.test ✓" in line and "MTA-STS record" in line
                      for line in s.splitlines()), 60, "the live check")
    [card] = [line for line in text.splitlines() if " e2e.test " in line]
    assert "checking" not in card and "could not check" not in card, card
    assert "no MTA-STS record" in card  # no MTA-STS in the zone: shown, as info
    # drill into the failed Microsoft report
    lines = text.splitlines()
    assert any("Microsoft" in line and " 3 " in line for line in lines), text
    tui.keys("/")
    tui.keys(*"microsoft")
    tui.wait_for(lambda s: "Google" not in s.split("Date", 1)[-1], 20, "the filtered inbox")
    tui.keys("Enter", "Enter")
    tui.wait_for(lambda s: "Report-ID" in s, 20, "the report screen")
    tui.keys("Enter")
    text = tui.wait_for(lambda s: "certificate-expired" in s, 20, "the failure details")
    assert "past notAfter" in text
    tui.keys("Escape")
    tui.wait_for(lambda s: "certificate-expired" not in s, 20, "the report again")
    tui.keys("Escape")
    tui.wait_for(lambda s: "Report-ID" not in s, 20, "the dashboard again")
    tui.keys("q")
    tui.wait_for(lambda s: "Report" not in s, 20, "the app to quit")
    wait_gone(worker, 20, "the sync process after the app quit")


@pytest.mark.peers
@pytest.mark.parametrize("how", ["TERM", "HUP"])
def test_the_sync_process_ends_with_the_app_when_it_is_signalled(
    tmux_factory: Callable[..., Tmux],
    dovecot: Dovecot,  # noqa: F811
    tmp_path: Path,
    how: str,
) -> None:
    """SIGTERM (a kill) or SIGHUP (the terminal closed) ends the app without its own clean-up:
    its sync process must still end, not stay behind holding the folder."""
    import signal

    dovecot.append([google_report(1)])
    tui = start_on_dovecot(tmux_factory, dovecot, tmp_path)
    tui.wait_for(lambda s: "Google" in s, 60, "the synced inbox")
    app, worker = tui_and_sync_process(tui)
    os.kill(app, getattr(signal, f"SIG{how}"))
    wait_gone(app, 20, "the app")
    wait_gone(worker, 20, f"the sync process after SIG{how} to the app")
