"""``tlsrpt-tui overview|policies|failures``: exact output on our own fixtures, filters, errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli_helpers import run_cli
from peers.postgres import BACKENDS
from report_factory import fixture_set, report, sts_policy, to_json

FX = fixture_set()
A, B, C = FX["a_google_0501.json"], FX["b_ms_0502.json"], FX["c_self_0503.json"]


def _pol(rep, i):
    return rep["policies"][i]


def _ok(rep, i=None):
    pols = rep["policies"] if i is None else [_pol(rep, i)]
    return sum(p["summary"]["total-successful-session-count"] for p in pols)


def _bad(rep, i=None):
    pols = rep["policies"] if i is None else [_pol(rep, i)]
    return sum(p["summary"]["total-failure-session-count"] for p in pols)


def _day(rep):
    return rep["date-range"]["start-datetime"][:10]


def _sts_details(rep, i):
    strings = _pol(rep, i)["policy"]["policy-string"]
    val = {k: v for k, _, v in (s.partition(": ") for s in strings) if k != "mx"}
    mxs = [s.removeprefix("mx: ") for s in strings if s.startswith("mx: ")]
    return f"mode={val['mode']}; mx={', '.join(mxs)}; max_age={val['max_age']}"


EXPECTED_OVERVIEW = [
    [_day(r), r["organization-name"], r["report-id"], r["contact-info"] or "",
     ", ".join(p["policy"]["policy-type"].upper() for p in r["policies"]), _ok(r), _bad(r)]
    for r in (A, B, C)
]
EXPECTED_POLICIES = [
    [_day(A), A["organization-name"], "example.org", "STS", _sts_details(A, 0), _ok(A, 0),
     _bad(A, 0)],
    [_day(B), B["organization-name"], "example.org", "STS", _sts_details(B, 0), _ok(B, 0),
     _bad(B, 0)],
    [_day(B), B["organization-name"], "example.org", "TLSA",
     f"{len(_pol(B, 1)['policy']['policy-string'])} TLSA records published", _ok(B, 1),
     _bad(B, 1)],
    [_day(C), C["organization-name"], "other.example", "NO-POLICY-FOUND", "no policy found",
     _ok(C, 0), _bad(C, 0)],
]
EXPECTED_FAILURES = [
    [_day(B), B["organization-name"], "example.org", "STS", d["result-type"],
     d.get("sending-mta-ip", ""), d.get("receiving-mx-hostname", ""), d.get("receiving-ip", ""),
     d["failed-session-count"], d.get("failure-reason-code", "")]
    for d in _pol(B, 0)["failure-details"]
]


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory):
    """The fixtures imported by the real CLI into a store of each backend (an SQLite file, then
    a PostgreSQL database): every table test below runs against both."""
    root = tmp_path_factory.mktemp("tables")
    inp = root / "in"
    inp.mkdir()
    # Written newest first: the tables must still come out by date.
    for name, rep in sorted(FX.items(), reverse=True):
        (inp / name).write_bytes(to_json(rep))
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    location = root / "store.db" if server is None else server.location(server.create_database())
    res = run_cli("import", *sorted(inp.iterdir(), reverse=True), db=location)
    assert res.returncode == 0, res.stderr
    yield location
    if server is not None:
        server.drop_database(location.url.rsplit("/", 1)[1].split("?", 1)[0])


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _strs(rows):
    return [[str(c) for c in row] for row in rows]


@pytest.mark.parametrize(("command", "columns", "expected"), [
    ("overview", ["Date", "Organization", "Report ID", "Contact", "Policy Types",
                  "Successful Sessions", "Failed Sessions"], EXPECTED_OVERVIEW),
    ("policies", ["Date", "Organization", "Policy Domain", "Policy Type", "Policy Details",
                  "Successful Sessions", "Failed Sessions"], EXPECTED_POLICIES),
    ("failures", ["Date", "Organization", "Policy Domain", "Policy Type", "Result Type",
                  "Sending MTA IP", "Receiving MX Hostname", "Receiving IP", "Failed Sessions",
                  "Failure Reason Code"], EXPECTED_FAILURES),
])
def test_csv_and_json_exact(db, command, columns, expected):
    res = run_cli(command, "--format", "csv", db=db)
    assert res.returncode == 0, res.stderr
    assert _csv(res.stdout) == [columns, *_strs(expected)]
    doc = json.loads(run_cli(command, "--format", "json", db=db).stdout)
    assert doc["rows"] == [dict(zip(columns, row, strict=True)) for row in expected]
    failed_col = columns.index("Failed Sessions")
    assert doc["total"]["failed"] == sum(row[failed_col] for row in expected)
    if "Successful Sessions" in columns:
        ok_col = columns.index("Successful Sessions")
        assert doc["total"]["successful"] == sum(row[ok_col] for row in expected)
    else:
        assert doc["total"]["successful"] == 0


def test_policies_table_format_exact(db):
    res = run_cli("policies", db=db)
    assert res.returncode == 0
    cols = ["Date", "Organization", "Policy Domain", "Policy Type", "Policy Details",
            "Successful Sessions", "Failed Sessions"]
    body = _strs(EXPECTED_POLICIES)
    total = ["Total", "", "", "", "", str(sum(r[5] for r in EXPECTED_POLICIES)),
             str(sum(r[6] for r in EXPECTED_POLICIES))]
    widths = [max(len(r[i]) for r in [cols, *body, total]) for i in range(len(cols))]

    def line(cells):
        return "  ".join(
            c.rjust(w) if i >= 5 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    assert res.stdout.splitlines() == [line(cols), rule, *map(line, body), rule, line(total)]


def test_domain_and_date_filters(db):
    only_other = json.loads(
        run_cli("overview", "--format", "json", "--domain", "Other.Example.", db=db).stdout
    )
    assert [r["Report ID"] for r in only_other["rows"]] == [C["report-id"]]
    pol = json.loads(run_cli("policies", "--format", "json", "--domain", "example.org",
                             db=db).stdout)
    assert len(pol["rows"]) == 3
    one_day = json.loads(run_cli("policies", "--format", "json", "--since", _day(B),
                                 "--until", _day(B), db=db).stdout)
    assert {r["Date"] for r in one_day["rows"]} == {_day(B)}
    assert len(one_day["rows"]) == 2
    since = _csv(run_cli("overview", "--format", "csv", "--since", _day(B), db=db).stdout)
    assert [r[2] for r in since[1:]] == [B["report-id"], C["report-id"]]
    until = _csv(run_cli("overview", "--format", "csv", "--until", _day(A), db=db).stdout)
    assert [r[2] for r in until[1:]] == [A["report-id"]]
    none = run_cli("failures", "--domain", "other.example", db=db)
    assert none.returncode == 0 and none.stdout.splitlines()[-1].split() == ["Total", "0"]


@pytest.mark.parametrize("args", [
    ["--since", "2026-02-30"], ["--until", "05/01/2026"], ["--since", "2026-5-1"],
])
def test_bad_dates_exit_2_with_a_clear_message(db, args):
    res = run_cli("overview", *args, db=db)
    assert res.returncode == 2
    assert "invalid date" in res.stderr and "expected YYYY-MM-DD" in res.stderr
    assert res.stdout == ""


def test_since_after_until_is_a_usage_error(db):
    res = run_cli("overview", "--since", "2026-05-03", "--until", "2026-05-01", db=db)
    assert res.returncode == 2 and "is after --until" in res.stderr


def test_hostile_report_text_cannot_drive_the_terminal(tmp_path):
    org = "\x1b]52;c;cHduZWQ=\x07\x1b[2J[bold red]X[/]\u009b31m"
    rep = report(org, "evil-1", "2026-05-01", [sts_policy("example.org", 1, 0)])
    (tmp_path / "evil.json").write_bytes(to_json(rep))
    db = tmp_path / "e.db"
    assert run_cli("import", tmp_path / "evil.json", db=db).returncode == 0
    table = run_cli("overview", db=db).stdout
    assert not any(ch in table for ch in "\x1b\x07\u009b")
    assert "]52;c;cHduZWQ=[2J[bold red]X[/]31m" in table
    doc = json.loads(run_cli("overview", "--format", "json", db=db).stdout)
    assert doc["rows"][0]["Organization"] == org
    assert _csv(run_cli("overview", "--format", "csv", db=db).stdout)[1][1] == org


def test_forged_reports_are_marked_and_left_out_of_the_totals(tmp_path):
    """A report whose mail failed DKIM (the demo's forged "Google" report, thousands of
    claimed failures) is listed, marked ✗, and not counted: the Total says how many it left
    out (table), ``"forged": true`` and ``forged_not_counted`` (json); CSV keeps every row."""
    from datetime import UTC, date, datetime

    from tlsrpt_tui.demo.store import build_demo_store
    from tlsrpt_tui.service.queries import forged_reports

    db = tmp_path / "demo.sqlite3"
    store, _ = build_demo_store(db, end=date(2026, 5, 31), now=datetime(2026, 6, 1, tzinfo=UTC))
    with store:
        (forged,) = forged_reports(store)
    for command in ("overview", "policies", "failures"):
        doc = json.loads(run_cli(command, "--format", "json", db=db).stdout)
        fake = [r for r in doc["rows"] if r.get("forged")]
        real = [r for r in doc["rows"] if not r.get("forged")]
        assert len(fake) >= 1 and all(r["Organization"] for r in fake), command
        assert doc["total"]["failed"] == sum(r["Failed Sessions"] for r in real)
        assert doc["total"]["forged_not_counted"] == len(fake)
        assert sum(r["Failed Sessions"] for r in fake) > 1000  # what it claimed

        lines = run_cli(command, db=db).stdout.splitlines()
        marked = [line for line in lines[:-1] if line.startswith("✗ 20")]
        assert len(marked) == len(fake), command
        assert lines[-1] == (f"✗ {len(fake)} row(s) of reports whose mail failed DKIM (forged "
                             "or altered) are listed but not counted in the Total")
        total = lines[-2].split()
        assert total[0] == "Total" and total[-1] == str(doc["total"]["failed"])

        rows = list(csv.reader(io.StringIO(run_cli(command, "--format", "csv", db=db).stdout)))
        assert len(rows) - 1 == len(doc["rows"])  # CSV: every row, data exact, no marks
        assert not any(r[0].startswith("✗") for r in rows)
    assert forged > 0
