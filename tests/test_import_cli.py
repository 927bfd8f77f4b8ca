"""``tlsrpt-tui import`` end to end: own fixtures, the real samples, re-imports, rejections."""

from __future__ import annotations

import gzip
import json
import sqlite3
import stat
from pathlib import Path

from cli_helpers import run_cli
from report_factory import DMARC_MAIL, fixture_set, to_json, to_mail


def _write_fixtures(root: Path) -> list[Path]:
    """Each fixture report once, in three shapes: JSON file, gzip file, report mail."""
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (name, rep) in enumerate(sorted(fixture_set().items())):
        stem = name.removesuffix(".json")
        if i == 0:
            path = root / name
            path.write_bytes(to_json(rep))
        elif i == 1:
            path = root / f"{stem}.json.gz"
            path.write_bytes(gzip.compress(to_json(rep)))
        else:
            path = root / f"{stem}.eml"
            path.write_bytes(to_mail(rep, submitter="self.example", msgid=i))
        written.append(path)
    return written


def _raw_inputs(db) -> int:  # an SQLite path or a PostgreSQL location
    from tlsrpt_tui.store.database import Store

    with Store(db) as store:
        return int(store.conn.execute("SELECT count(*) FROM raw_inputs").fetchone()[0])


def test_import_then_reimport_is_all_duplicates_and_tables_unchanged(tmp_path, db_location):
    db = db_location
    _write_fixtures(tmp_path / "in")
    first = run_cli("import", tmp_path / "in", db=db)
    assert (first.returncode, first.stdout, first.stderr) == (
        0, "3 new, 0 duplicate, 0 rejected\n", ""
    )
    if isinstance(db, Path):
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    tables_before = [run_cli(t, "--format", "csv", db=db).stdout
                     for t in ("overview", "policies", "failures")]
    second = run_cli("import", tmp_path / "in", db=db)
    assert (second.returncode, second.stdout) == (0, "0 new, 3 duplicate, 0 rejected\n")
    tables_after = [run_cli(t, "--format", "csv", db=db).stdout
                    for t in ("overview", "policies", "failures")]
    assert tables_after == tables_before
    assert len(tables_before[0].splitlines()) == 1 + 3
    assert _raw_inputs(db) == 3


def test_rejected_and_not_report_inputs_exit_1_with_one_line_each(tmp_path):
    db = tmp_path / "s.db"
    inp = tmp_path / "in"
    _write_fixtures(inp)
    (inp / "x_truncated.json.gz").write_bytes(gzip.compress(b'{"a": 1}' * 50)[:30])
    (inp / "y_dmarc.eml").write_bytes(DMARC_MAIL)
    missing = tmp_path / "nowhere.json"
    res = run_cli("import", inp, missing, db=db)
    assert res.returncode == 1
    assert res.stdout == "3 new, 0 duplicate, 2 rejected, 1 not a report\n"
    lines = res.stderr.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{inp / 'x_truncated.json.gz'}: ")
    assert lines[1] == f"{inp / 'y_dmarc.eml'}: not a TLS-RPT report"
    assert lines[2].startswith(f"{missing}: ") and "no such file" in lines[2]
    # The rejected input is kept with its reason; the DMARC mail is left alone.
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT source, status, error FROM raw_inputs"
                            " WHERE status = 'rejected'").fetchall()
    assert [r[0] for r in rows] == [str(inp / "x_truncated.json.gz")]
    assert lines[0] == f"{rows[0][0]}: {rows[0][2]}"


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("import", db=tmp_path / "s.db").returncode == 2
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("this is not a database\n" * 100)
    for command in (["import", tmp_path], ["overview"]):
        res = run_cli(*command, db=not_a_db)
        assert res.returncode == 2
        assert res.stderr.startswith(f"tlsrpt-tui: {not_a_db}: ")
        assert "Traceback" not in res.stderr
    res = run_cli("import", "--batch-size", "0", tmp_path, db=tmp_path / "s.db")
    assert res.returncode == 2 and "batch-size" in res.stderr


def test_db_option_before_the_subcommand_is_honoured(tmp_path):
    _write_fixtures(tmp_path / "in")
    db = tmp_path / "before.db"
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    res = run_cli("--db", db, "import", tmp_path / "in", env=env)
    assert (res.returncode, res.stdout) == (0, "3 new, 0 duplicate, 0 rejected\n")
    assert db.exists() and not (tmp_path / "xdg").exists()


def test_store_selected_by_environment_variable(tmp_path):
    _write_fixtures(tmp_path / "in")
    db = tmp_path / "env" / "store.sqlite3"
    res = run_cli("import", tmp_path / "in", env={"TLSRPT_TUI_DB": str(db)})
    assert res.returncode == 0, res.stderr
    assert db.exists()
    out = run_cli("overview", "--format", "json", env={"TLSRPT_TUI_DB": str(db)})
    assert len(json.loads(out.stdout)["rows"]) == 3


def _sample_files(samples: Path) -> list[Path]:
    return sorted(p for p in samples.rglob("*") if p.is_file() and p.name != "INDEX.md")


def test_samples_import_twice(samples_dir, tmp_path):
    db = tmp_path / "samples.db"
    files = _sample_files(samples_dir)
    first = run_cli("import", *files, db=db)
    assert first.returncode == 0, first.stderr
    new, dup = (int(x.split()[0]) for x in first.stdout.split(", ")[:2])
    assert new + dup == len(files)  # every sample file holds exactly one report
    before = run_cli("overview", "--format", "json", db=db).stdout
    second = run_cli("import", *files, db=db)
    assert (second.returncode, second.stdout) == (
        0, f"0 new, {len(files)} duplicate, 0 rejected\n"
    )
    assert run_cli("overview", "--format", "json", db=db).stdout == before
    assert len(json.loads(before)["rows"]) == new


def test_samples_table_values_match_the_sample_json(samples_dir, tmp_path):
    """Values read straight from the sample JSON files show up in the tables."""
    db = tmp_path / "samples.db"
    assert run_cli("import", *_sample_files(samples_dir), db=db).returncode == 0
    ms = json.loads((samples_dir / "dmarc-report-viewer" / "microsoft.json").read_text())
    mailru = json.loads((samples_dir / "parsedmarc" / "mail.ru.json").read_text())

    overview = json.loads(run_cli("overview", "--format", "json", db=db).stdout)["rows"]
    [ms_row] = [r for r in overview if r["Report ID"] == ms["report-id"]]
    assert ms_row["Policy Types"] == ", ".join(
        p["policy"]["policy-type"].upper() for p in ms["policies"]
    )
    assert ms_row["Successful Sessions"] == sum(
        p["summary"]["total-successful-session-count"] for p in ms["policies"]
    )
    assert ms_row["Date"] == ms["date-range"]["start-datetime"][:10]

    domain = ms["policies"][0]["policy"]["policy-domain"]
    policies = json.loads(
        run_cli("policies", "--format", "json", "--domain", domain, db=db).stdout
    )["rows"]
    tlsa = [r for r in policies if r["Policy Type"] == "TLSA"]
    records = json.loads(ms["policies"][1]["policy"]["policy-string"][0])
    assert [r["Policy Details"] for r in tlsa] == [f"{len(records)} TLSA records published"]

    failures = json.loads(run_cli("failures", "--format", "json", db=db).stdout)["rows"]
    mr = [r for r in failures if r["Organization"] == mailru["organization-name"]]
    assert [(r["Result Type"], r["Failure Reason Code"], r["Failed Sessions"]) for r in mr] == [
        (d["result-type"], d["failure-reason-code"], d["failed-session-count"])
        for d in mailru["policies"][0]["failure-details"]
    ]
    total = json.loads(run_cli("overview", "--format", "json", db=db).stdout)["total"]
    assert total["failed"] == sum(r["Failed Sessions"] for r in overview)


def test_reparse_command_restores_derived_rows_and_is_idempotent(tmp_path):
    db = tmp_path / "s.db"
    _write_fixtures(tmp_path / "in")
    assert run_cli("import", tmp_path / "in", db=db).returncode == 0
    good = run_cli("overview", "--format", "csv", db=db).stdout
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE reports SET successful = 0, organization = 'x'")
    assert run_cli("overview", "--format", "csv", db=db).stdout != good
    first = run_cli("reparse", db=db)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("3 inputs re-parsed: 0 recovered, 0 added, 3 updated,")
    assert run_cli("overview", "--format", "csv", db=db).stdout == good
    again = run_cli("reparse", db=db)
    assert again.stdout.startswith("3 inputs re-parsed: 0 recovered, 0 added, 0 updated,"
                                   " 3 unchanged, 0 removed")


def test_mbox_messages_are_inputs_of_their_own(tmp_path, db_location):
    fx = sorted(fixture_set().values(), key=lambda r: r["report-id"])
    broken = to_mail(fx[0], msgid=9).replace(b"Content-Transfer-Encoding: base64\r\n",
                                             b"Content-Transfer-Encoding: base64\r\n\r\n!!", 1)
    msgs = [to_mail(fx[0], msgid=1), broken, to_mail(fx[1], msgid=2)]
    mbox = tmp_path / "reports.mbox"
    mbox.write_bytes(b"".join(
        b"From MAILER-DAEMON Mon May 11 12:00:00 2026\n" + m.replace(b"\r\n", b"\n") + b"\n"
        for m in msgs
    ))
    db = db_location
    res = run_cli("import", mbox, db=db)
    assert res.returncode == 1
    assert res.stdout == "2 new, 0 duplicate, 1 rejected\n"
    [line] = res.stderr.splitlines()
    assert line.startswith(f"{mbox}[1]: ")
    again = run_cli("import", mbox, db=db)
    assert again.stdout == "0 new, 2 duplicate, 1 rejected\n"
    assert _raw_inputs(db) == 3


def test_zip_with_a_refused_member_counts_as_rejected_and_exits_1(tmp_path):
    """One good report and one decompression bomb in one zip: the report is imported, the
    member is named on stderr, and the zip counts as rejected (exit 1), not as a clean run."""
    import zipfile

    rep = sorted(fixture_set().values(), key=lambda r: r["report-id"])[0]
    inp = tmp_path / "in"
    inp.mkdir()
    with zipfile.ZipFile(inp / "mixed.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("good.json", to_json(rep))
        zf.writestr("bomb.json", b"\0" * (21 * 1024 * 1024))  # over the 20 MiB report limit
    db = tmp_path / "s.db"
    out = run_cli("import", inp, db=db)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.strip() == "1 new, 0 duplicate, 1 rejected"
    assert "mixed.zip" in out.stderr and "bomb.json" in out.stderr
    inbox = json.loads(run_cli("inbox", "--format", "json", db=db).stdout)
    assert [r["Report ID"] for r in inbox["rows"]] == [rep["report-id"]]
