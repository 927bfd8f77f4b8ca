"""``inbox``, ``show`` and ``status``: what the TUI's inbox, report screen and DNS panel show,
as subcommands for scripts. Run as the real command on our own fixtures."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import REPO, run_cli
from report_factory import fixture_set, report, sts_policy, to_json, to_mail

from tlsrpt_tui.core.findings import Finding, Severity
from tlsrpt_tui.store import checks as stored
from tlsrpt_tui.store.database import Store

FX = fixture_set()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, rep in FX.items():
        (inputs / name).write_bytes(to_json(rep))
    (inputs / "broken.json").write_bytes(b'{"organization-name": "X", "policies": 5}')
    (inputs / "mail.eml").write_bytes(
        to_mail(report("Esc\x1b]52;c;AAAA\x07Org", "rid-mail", "2026-05-04",
                       [sts_policy("example.com", 3, 0)]))
    )
    path = tmp_path / "store.db"
    result = run_cli("import", inputs, db=path)
    assert result.returncode == 1, result.stderr  # broken.json is rejected
    return path


def test_inbox_lists_reports_newest_first_with_store_ids(db: Path) -> None:
    out = run_cli("inbox", "--format", "csv", db=db)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    dates = [r["Date"] for r in rows]
    assert dates == sorted(dates, reverse=True)
    assert len(rows) == len(FX) + 1
    by_id = {r["Report ID"]: r for r in rows}
    ms = FX["b_ms_0502.json"]
    assert by_id[ms["report-id"]]["Policy Types"] == "STS, TLSA"
    assert int(by_id[ms["report-id"]]["Failed Sessions"]) == sum(
        p["summary"]["total-failure-session-count"] for p in ms["policies"]
    )
    assert all(r["ID"].isdigit() for r in rows)


def test_inbox_filter_limit_and_json(db: Path) -> None:
    out = run_cli("inbox", "--filter", "MICROSOFT", "--format", "json", db=db)
    data = json.loads(out.stdout)
    assert [r["Organization"] for r in data["rows"]] == ["Microsoft Corporation"]
    limited = json.loads(run_cli("inbox", "--limit", "2", "--format", "json", db=db).stdout)
    assert len(limited["rows"]) == 2
    assert run_cli("inbox", "--limit", "-1", db=db).returncode == 2


def test_inbox_table_strips_terminal_escapes(db: Path) -> None:
    out = run_cli("inbox", db=db)
    assert "Esc]52;c;AAAAOrg" in out.stdout
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert out.stdout.rstrip().splitlines()[-1].startswith("Total")


def test_inbox_unreadable_lists_rejected_inputs_with_reason(db: Path) -> None:
    out = run_cli("inbox", "--unreadable", "--format", "json", db=db)
    [row] = json.loads(out.stdout)["rows"]
    assert row["source"].endswith("broken.json")
    assert row["error"].endswith("report-id: missing")


def test_show_by_report_id_prints_policies_failures_and_fixes(db: Path) -> None:
    ms = FX["b_ms_0502.json"]
    out = run_cli("show", ms["report-id"], db=db)
    assert out.returncode == 0, out.stderr
    assert "Organization:      Microsoft Corporation" in out.stdout
    assert "Generated at:" in out.stdout  # FILETIME report-id decoded
    assert "✗ certificate-expired ×2  mx=mx1.example.org ip=198.51.100.1 from=192.0.2.10" in (
        out.stdout
    )
    assert "fix: renew it" in out.stdout
    assert "6 TLSA records published" in out.stdout


def test_show_json_round_trips_the_report_and_by_store_id(db: Path) -> None:
    google = FX["a_google_0501.json"]
    first = json.loads(run_cli("show", google["report-id"], "--format", "json", db=db).stdout)
    assert first["report"]["report-id"] == google["report-id"]
    assert first["report"]["policies"][0]["summary"] == google["policies"][0]["summary"]
    again = json.loads(run_cli("show", str(first["id"]), "--format", "json", db=db).stdout)
    assert again == first


def test_show_raw_writes_the_input_as_received(db: Path, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "tlsrpt_tui", "show", "--db", str(db), "rid-mail", "--raw"]
    out = subprocess.run(argv, capture_output=True, timeout=60, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout == (tmp_path / "inputs" / "mail.eml").read_bytes()


def test_show_unknown_report_fails_clearly(db: Path) -> None:
    out = run_cli("show", "no-such-report", db=db)
    assert out.returncode == 1
    assert "no report matches 'no-such-report'" in out.stderr


def _save_status(path: Path, domain: str, status: Severity, findings: list[Finding],
                 when: str) -> None:
    with Store(path) as store:
        stored.save(store, {
            "domain": domain, "checked_at": when, "status": str(status), "records": {},
            "findings": [f.to_json() for f in findings],
        })


def test_status_shows_the_last_stored_check_and_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    ok = Finding("tls.ok", Severity.OK, "mx1.example.org", "STARTTLS with a valid certificate")
    expired = Finding("tls.expired", Severity.ERROR, "mx1.example.org", "expired yesterday",
                      "renew it", "certificate-expired")
    _save_status(path, "example.org", Severity.OK, [ok], "2026-05-01T00:00:00+00:00")
    _save_status(path, "example.org", Severity.ERROR, [expired], "2026-05-02T00:00:00+00:00")
    out = run_cli("status", "example.org", db=path)
    assert out.returncode == 1  # an error finding
    assert "example.org  ERROR  (checked 2026-05-02T00:00:00+00:00)" in out.stdout
    assert "tls.expired" in out.stdout and "senders report: certificate-expired" in out.stdout
    assert "since the last check:" in out.stdout
    data = json.loads(run_cli("status", "--format", "json", db=path).stdout)
    assert [d["status"] for d in data] == ["error"]


def test_status_of_an_unchecked_domain_says_so(tmp_path: Path) -> None:
    out = run_cli("status", "never.example", db=tmp_path / "s.db")
    assert out.returncode == 1
    assert "never.example: never checked" in out.stderr


def test_demo_runs_the_read_only_commands_on_the_demo_data(tmp_path: Path) -> None:
    """``tlsrpt-tui --demo overview|readiness|status…`` answer from the demo's throw-away store
    (its domains, its reports, its forged one), never from the user's own store or config;
    a command that writes or reaches out is refused with the reason."""
    from tlsrpt_tui.demo.store import DEMO_DOMAINS

    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    overview = run_cli("--demo", "overview", "--format", "json", env=env)
    assert overview.returncode == 0, overview.stderr
    doc = json.loads(overview.stdout)
    assert len(doc["rows"]) > 100 and doc["total"]["forged_not_counted"] == 1
    assert overview.stderr == ""  # the demo's alerts are its data, not log lines
    status = run_cli("--demo", "status", "--format", "json", env=env)
    assert {s["domain"] for s in json.loads(status.stdout)} == set(DEMO_DOMAINS)
    ready = run_cli("--demo", "readiness", DEMO_DOMAINS[0], "--format", "json", env=env)
    assert ready.returncode in (0, 1), ready.stderr
    assert json.loads(ready.stdout)[0]["reports"] > 0
    refused = run_cli("--demo", "import", str(tmp_path), env=env)
    assert refused.returncode == 2
    assert "--demo does not apply to import" in refused.stderr
    assert not (tmp_path / "data").exists()  # no store of the user's was made
