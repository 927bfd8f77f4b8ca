"""Hostile input: every case of tests/hostile is handled safely, within time and memory bounds.

The cases run in a subprocess (``tests/hostile/run.py all``), one forked child per case, so a
hang is cut off, a crash fails only its case, and each case's peak memory is its own. Each case
asserts its own outcome (status, one-line reason free of control characters, no file-system
access); here every case must also stay under ``MAX_SECONDS`` and ``MAX_MB``.

The fronts are tested end to end on a hostile report: the real ``tlsrpt-tui`` tables must not
let an ESC, BEL or C1 byte reach stdout, and the TUI must show Rich markup as literal text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hostile import builders
from hostile.cases import CASES

REPO = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).parent / "hostile" / "run.py"
MAX_MB = 200.0  # peak RSS of the code under test, interpreter and input included
MAX_SECONDS = 20.0  # per case (the slowest takes under 1 s on an idle machine)
CHILD_TIMEOUT = 60.0  # the runner kills a case after this: a hang fails, it never blocks

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    """Run every case once (about 15 s), keyed by case name."""
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "all", "--timeout", str(CHILD_TIMEOUT)],
        capture_output=True, text=True, timeout=280, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out = {}
    for line in proc.stdout.splitlines():
        row = json.loads(line)
        out[row["name"]] = row
    assert out, f"runner printed nothing: {proc.stderr[-2000:]}"
    return out


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_hostile_case(results: dict[str, dict], name: str) -> None:
    row = results.get(name)
    assert row is not None, f"{name} did not run"
    assert row["ok"], f"{name}: {row['outcome']}"
    assert row["seconds"] < MAX_SECONDS, f"{name} took {row['seconds']:.1f} s"
    assert row["peak_mb"] is not None and row["peak_mb"] < MAX_MB, (
        f"{name} peaked at {row['peak_mb']} MB"
    )


def test_case_names_are_unique_and_every_group_has_cases() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert {c.group for c in CASES} == {"containers", "json", "mime", "text", "records", "certs",
                                        "sources"}


def test_runner_reports_a_hang_and_a_blow_up(tmp_path: Path) -> None:
    """The harness itself can fail: a case that hangs is killed and one that allocates past the
    address-space limit fails with MemoryError instead of taking the machine down."""
    script = tmp_path / "bad_cases.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from hostile import cases, run\n"
        "cases.CASES[:] = []\n"
        "@cases.case('bad', 'hang', 'sleeps')\n"
        "def _(tmp):\n"
        "    with cases.measured():\n"
        "        time.sleep(30)\n"
        "@cases.case('bad', 'blow-up', 'allocates 8 GB')\n"
        "def _(tmp):\n"
        "    with cases.measured():\n"
        "        return str(len(bytearray(8 * 1024**3)))\n"
        "run.CASES = cases.CASES\n"
        "sys.exit(run.main(['bad', '--timeout', '2']))\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    rows = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert proc.returncode == 1
    assert not rows["hang"]["ok"] and rows["hang"]["outcome"].startswith("hang")
    assert not rows["blow-up"]["ok"] and "MemoryError" in rows["blow-up"]["outcome"]


# ---------------------------------------------------------------------------------------------
# The fronts: CLI tables and TUI on a store holding the hostile report


FRONT_CONTROL = builders.CONTROL_CHARS - {"\n"}


def _cli(*args: str | Path, db: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    env |= {"PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(db.parent / "xdg-data"),
            "XDG_CONFIG_HOME": str(db.parent / "xdg-config")}
    argv = [sys.executable, "-m", "tlsrpt_tui", str(args[0]), "--db", str(db), *map(str, args[1:])]
    return subprocess.run(argv, capture_output=True, timeout=120, env=env, cwd=REPO)


def _hostile_inputs(folder: Path) -> Path:
    """A folder of hostile inputs: the markup report as JSON and as mail (hostile headers), a
    zip whose member names carry escapes, and a file whose own name carries them."""
    folder.mkdir()
    rep = builders.hostile_report()
    (folder / "a.json").write_bytes(builders.dumps(rep))
    rep2 = dict(rep, **{"report-id": "second " + builders.HOSTILE_TEXT})
    hdr = (f"TLS-Report-Domain: {builders.HOSTILE_TEXT}\n"
           f"TLS-Report-Submitter: {builders.HOSTILE_TEXT}\n")
    (folder / "b.eml").write_bytes(
        builders.report_mail(builders.gz(builders.dumps(rep2)), headers=hdr)
    )
    names = ["x\x1b[2J.json", "y\x9b31m.json", "[bold red]Z[/].json"]
    (folder / "c.zip").write_bytes(builders.make_zip([(n, b"{bad") for n in names]))
    (folder / "d\x1b]52;c;ZXZpbA==\x07\x1b[2J.json").write_bytes(b"{bad")
    return folder


def _assert_clean(data: bytes, what: str) -> str:
    text = data.decode("utf-8")  # strict: the output is valid UTF-8
    bad = sorted({c for c in text if c in FRONT_CONTROL})
    assert not bad, f"{what} leaks {bad!r}"
    return text


def test_cli_import_and_tables_never_emit_control_characters(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    folder = _hostile_inputs(tmp_path / "in")
    imp = _cli("import", folder, db=db)
    assert imp.returncode == 1, imp.stderr  # some inputs rejected
    err = _assert_clean(imp.stderr, "import stderr")
    _assert_clean(imp.stdout, "import stdout")
    assert len([line for line in err.splitlines() if line]) == 2  # the zip and the bad file
    assert "2 new" in imp.stdout.decode() or "new 2" in imp.stdout.decode(), imp.stdout
    for command in ("overview", "policies", "failures"):
        out = _cli(command, "--format", "table", db=db)
        assert out.returncode == 0, out.stderr
        text = _assert_clean(out.stdout, f"{command} table")
        assert "[bold red]X[/]" in text  # markup is shown as the literal characters
    # CSV/JSON keep the data exact (their own quoting is the safety): the ESC is still there
    js = _cli("overview", "--format", "json", db=db)
    rows = json.loads(js.stdout)["rows"]
    assert any(builders.HOSTILE_TEXT in str(v) for row in rows for v in row.values())


async def test_tui_shows_markup_literally_and_strips_escapes(tmp_path: Path) -> None:
    from tui_helpers import settle

    from tlsrpt_tui.demo.store import demo_config
    from tlsrpt_tui.service.backend import StoreBackend
    from tlsrpt_tui.service.ingest import ingest_stream
    from tlsrpt_tui.service.sources import iter_inputs
    from tlsrpt_tui.store.database import Store
    from tlsrpt_tui.ui.app import TlsrptApp
    from tlsrpt_tui.ui.screen_text import screen_text
    from tlsrpt_tui.ui.screens.raw import RawScreen
    from tlsrpt_tui.ui.screens.report import ReportScreen
    from tlsrpt_tui.ui.widgets.inbox import InboxTable

    store = Store(tmp_path / "store.sqlite3")
    summary = ingest_stream(store, iter_inputs([_hostile_inputs(tmp_path / "in")]))
    assert summary.new == 2, summary
    now = datetime(2026, 5, 2, 8, 0, tzinfo=UTC)
    app = TlsrptApp(StoreBackend(store), demo_config(), demo=True, clock=lambda: now)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            text = screen_text(app)
            assert not {c for c in text if c in FRONT_CONTROL}, "dashboard leaks controls"
            assert "[bold red]X[/]" in text or "[bold red]Z[/]" in text, text
            table = app.screen.query_one(InboxTable)
            index = next(i for i, r in enumerate(table.ordered_rows)
                         if not str(r.key.value).startswith("u"))
            table.move_cursor(row=index)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ReportScreen)
            text = screen_text(app)
            assert not {c for c in text if c in FRONT_CONTROL}, "report screen leaks controls"
            assert "[bold red]X[/]" in text
            assert "[link=https://evil.example]c[/link]" in text
            await pilot.press("v")
            await settle(pilot)
            assert isinstance(app.screen, RawScreen)
            text = screen_text(app)
            assert not {c for c in text if c in FRONT_CONTROL}, "raw screen leaks controls"
            assert "[bold red]X[/]" in text
    finally:
        store.close()
