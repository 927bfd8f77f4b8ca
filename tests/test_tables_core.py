"""core/tables.py: the seed's cell rules and the three output formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tlsrpt_tui.core import tables
from tlsrpt_tui.core.model import FailureDetail, Policy, PolicyType, Report


def _policy(kind: PolicyType, strings=(), mx=(), ok=1, failed=0, details=(), raw=None) -> Policy:
    return Policy(kind, raw or str(kind), "example.org", tuple(strings), tuple(mx), ok, failed,
                  tuple(details))


def _report(policies, org="Org", start=datetime(2026, 5, 1, tzinfo=UTC)) -> Report:
    return Report(org, "c@x", "rid", start, start + timedelta(days=1), tuple(policies))


def test_sts_details_from_policy_string_in_order():
    strings = ["version: STSv1", "mode: enforce", "mx: a.example", "mx: b.example",
               "max_age: 1209600"]
    assert tables.policy_details(PolicyType.STS, strings, ["ignored.example"]) == (
        "mode=enforce; mx=a.example, b.example; max_age=1209600"
    )


def test_sts_details_fall_back_to_mx_host_and_say_when_nothing_is_known():
    assert tables.policy_details(PolicyType.STS, [], ["*.example.org"]) == "mx=*.example.org"
    assert tables.policy_details(
        PolicyType.STS, ["mode: testing", "max_age: 86400"], ["m.example"]
    ) == "mode=testing; mx=m.example; max_age=86400"
    assert tables.policy_details(PolicyType.STS, [], []) == "no policy string"


def test_tlsa_and_no_policy_details():
    recs = [f"3 1 1 {i:064x}" for i in range(6)]
    assert tables.policy_details(PolicyType.TLSA, recs, []) == "6 TLSA records published"
    assert tables.policy_details(PolicyType.TLSA, recs[:1], []) == "1 TLSA record published"
    assert tables.policy_details(PolicyType.NO_POLICY_FOUND, [], []) == "no policy found"


def test_overview_row_types_upper_case_in_report_order_and_sums():
    rep = _report([
        _policy(PolicyType.TLSA, ok=4, failed=1),
        _policy(PolicyType.STS, ok=6, failed=2),
        _policy(PolicyType.OTHER, raw="future-type", ok=1),
    ])
    row = tables.overview_row(rep)
    assert row.policy_types == "TLSA, STS, FUTURE-TYPE"
    assert (row.successful, row.failed) == (11, 3)
    assert row.date == "2026-05-01"


def test_date_is_the_utc_start_date():
    start = datetime(2026, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))  # 01:30Z on 2nd
    assert tables.overview_row(_report([], start=start)).date == "2026-05-02"


def _rows():
    detail = FailureDetail("certificate-expired", 3, "192.0.2.1", "mx.example", None,
                           "198.51.100.1", None, "expired")
    rep = _report([_policy(PolicyType.STS, ["mode: enforce", "mx: mx.example"], ok=10,
                           failed=3, details=[detail])], org="Org, \"quoted\"")
    return rep, tables.policy_rows(rep), tables.failure_rows(rep)


def test_table_format_aligns_and_ends_with_a_total_row():
    rows = [
        tables.OverviewRow("2026-05-01", "A", "r1", "c", "STS", 5, 0),
        tables.OverviewRow("2026-05-02", "Bbbbbb", "r2", "", "TLSA", 12345, 7),
    ]
    lines = list(tables.render_table(rows, tables.OverviewRow))
    assert lines[0].index("Organization") == len("2026-05-01  ")
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[-2] == lines[1]
    assert lines[-1].startswith("Total") and lines[-1].endswith("12350                7")
    # Count columns are right-aligned under their headers.
    header_end = lines[0].index("Successful Sessions") + len("Successful Sessions")
    assert lines[3][:header_end].endswith("12345")
    assert len({len(line) for line in lines[:2]}) == 1


def test_csv_keeps_data_exact_and_has_no_total_row():
    _, _, frows = _rows()
    text = "".join(tables.render_csv(frows, tables.FailureRow))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(tables.FailureRow.COLUMNS)
    assert parsed[1] == ["2026-05-01", 'Org, "quoted"', "example.org", "STS",
                         "certificate-expired", "192.0.2.1", "mx.example", "198.51.100.1", "3",
                         "expired"]
    assert len(parsed) == 2


def test_json_rows_keyed_by_column_and_total():
    _, prow, frows = _rows()
    doc = json.loads("".join(tables.render_json(prow, tables.PolicyRow)))
    assert doc["total"] == {"successful": 10, "failed": 3}
    assert doc["rows"] == [{
        "Date": "2026-05-01", "Organization": 'Org, "quoted"', "Policy Domain": "example.org",
        "Policy Type": "STS", "Policy Details": "mode=enforce; mx=mx.example",
        "Successful Sessions": 10, "Failed Sessions": 3,
    }]
    fdoc = json.loads("".join(tables.render_json(frows, tables.FailureRow)))
    assert fdoc["total"] == {"successful": 0, "failed": 3}
    empty = json.loads("".join(tables.render_json([], tables.OverviewRow)))
    assert empty == {"rows": [], "total": {"successful": 0, "failed": 0}}


HOSTILE = "Evil\x1b]0;pwned\x07\x1b[31mRed\x9b2J\u202eTxt\tTab\nLine"


def test_table_strips_terminal_controls_but_csv_and_json_keep_them():
    row = tables.OverviewRow("2026-05-01", HOSTILE, "r", "c", "STS", 1, 0)
    table = "".join(tables.render([row], tables.OverviewRow, "table"))
    for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\t"):
        assert bad not in table
    assert "Evil]0;pwned[31mRed2JTxt Tab Line" in table
    assert len(table.splitlines()) == 5
    csv_text = "".join(tables.render([row], tables.OverviewRow, "csv"))
    assert list(csv.reader(io.StringIO(csv_text)))[1][1] == HOSTILE
    doc = json.loads("".join(tables.render([row], tables.OverviewRow, "json")))
    assert doc["rows"][0]["Organization"] == HOSTILE


def test_wide_characters_keep_columns_aligned():
    rows = [tables.OverviewRow("2026-05-01", "日本語", "r", "c", "STS", 1, 0),
            tables.OverviewRow("2026-05-01", "abc", "r", "c", "STS", 1, 0)]
    lines = list(tables.render_table(rows, tables.OverviewRow))
    widths = {tables.display_width(line) for line in lines[2:4]}
    assert len(widths) == 1


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-1-1", "yesterday", "2026-02-30", ""])
def test_parse_date_rejects_with_a_clear_message(bad):
    with pytest.raises(ValueError, match="expected YYYY-MM-DD"):
        tables.parse_date(bad)
