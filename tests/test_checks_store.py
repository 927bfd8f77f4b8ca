"""Stored check results (migration 003, latest/previous) and the "what changed" lines."""

from __future__ import annotations

import pytest

from tlsrpt_tui.core.checks.catalogue import finding
from tlsrpt_tui.core.findings import Severity
from tlsrpt_tui.service.checks import DomainStatus, changes, normalize_domain
from tlsrpt_tui.store import checks as check_store
from tlsrpt_tui.store.database import Store


def _status(when: str, codes: list[str], **records) -> DomainStatus:
    findings = [finding(c, "example.com") for c in codes]
    worst = max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.OK)
    return DomainStatus("example.com", when, worst, dict(records), findings)


def test_latest_and_previous_round_trip(tmp_path, new_db) -> None:
    with Store(new_db("s")) as store:
        assert check_store.latest(store, "example.com") is None
        first = _status("2026-11-28T10:00:00+00:00", ["tlsrpt.ok"], mx=["10 mx.example.com"])
        second = _status("2026-11-28T11:00:00+00:00", ["tlsrpt.missing"], mx=[])
        check_store.save(store, first.to_json())
        assert check_store.previous(store, "example.com") is None
        check_store.save(store, second.to_json())
        check_store.save(
            store, _status("2026-11-28T09:00:00+00:00", []).to_json() | {"domain": "other.example"}
        )
        latest = check_store.latest(store, "example.com")
        assert latest == second.to_json()
        assert check_store.previous(store, "example.com") == first.to_json()
        assert DomainStatus.from_json(latest).findings == second.findings
        assert check_store.domains(store) == ["example.com", "other.example"]
        assert [r["checked_at"] for r in check_store.history(store, "example.com")] == [
            second.checked_at,
            first.checked_at,
        ]


def test_changes_lists_codes_and_records() -> None:
    a = _status("t1", ["tlsrpt.ok", "mx.ok"], mx=["10 a.example.com"], tlsrpt=["v=TLSRPTv1; x"])
    b = _status("t2", ["tlsrpt.missing", "mx.ok"], mx=["10 b.example.com"], tlsrpt=[])
    lines = changes(a, b)
    assert lines == [
        "status ok → warning",
        "new: tlsrpt.missing (example.com)",
        "gone: tlsrpt.ok (example.com)",
        "TLS-RPT record changed",
        "MX set changed",
    ]
    assert changes(a, a) == []
    assert changes(None, a) == []
    assert changes(a.to_json(), b.to_json()) == lines


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Example.COM.", "example.com"), (" bücher.example ", "xn--bcher-kva.example")],
)
def test_normalize_domain(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize("raw", ["", "a..b", "has space.example", "x" * 64 + ".example"])
def test_normalize_domain_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        normalize_domain(raw)
