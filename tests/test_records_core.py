"""The record generator's pure parts: mx patterns, TXT quoting, edge MX sets."""

from __future__ import annotations

import pytest

from tlsrpt_tui.core import records as core
from tlsrpt_tui.core.checks.sts_policy import mx_matches


@pytest.mark.parametrize(("domain", "hosts", "keep", "expected"), [
    # Own hosts are listed by name: a *.example.com would cover every host of the domain.
    ("example.com", ["mx1.example.com", "mx2.example.com"], (),
     ["mx1.example.com", "mx2.example.com"]),
    # A provider's hosts sharing a parent: one pattern that survives their renaming.
    ("example.com", ["example-com.mail.protection.outlook.example",
                     "example-com2.mail.protection.outlook.example"], (),
     ["*.mail.protection.outlook.example"]),
    ("example.com", ["aspmx.l.google.example", "alt1.aspmx.l.google.example",
                     "alt2.aspmx.l.google.example"], (),
     ["aspmx.l.google.example", "*.aspmx.l.google.example"]),
    # A published pattern that still matches is kept; a stale one is dropped.
    ("example.com", ["mx1.example.com", "mx2.example.com"], ("*.example.com", "old.example.com"),
     ["*.example.com"]),
])
def test_patterns_cover_every_host(domain, hosts, keep, expected) -> None:
    got = core.patterns_for(domain, hosts, keep)
    assert got == expected
    assert all(any(mx_matches(p, h) for p in got) for h in hosts)


def test_txt_rdata_quotes_escapes_and_splits() -> None:
    assert core.txt_rdata('a "b" \\c') == '"a \\"b\\" \\\\c"'
    long = "v=TLSRPTv1; rua=" + ",".join(f"mailto:r{i}@example.com" for i in range(20))
    rdata = core.txt_rdata(long)
    chunks = rdata.split('" "')
    assert len(chunks) == 2 and len(long) > 255
    assert rdata.replace('" "', "").strip('"') == long


def test_null_mx_gets_tlsrpt_only() -> None:
    rs = core.build("nomail.example", "t", {"mx": ["0 ."], "tlsrpt": [], "sts": []},
                    new_id="1")
    assert [i.kind for i in rs.items] == ["tlsrpt"]
    assert "null MX" in rs.notes[0]


def test_failed_lookups_are_unknown_not_missing() -> None:
    rs = core.build("x.example", "t", {"mx": None, "tlsrpt": None, "sts": None}, new_id="1")
    assert [(i.kind, i.state) for i in rs.items] == [("tlsrpt", "unknown"),
                                                     ("sts-policy", "unknown")]


def test_unprobed_mx_has_unknown_tlsa() -> None:
    rs = core.build("x.example", "t", {"mx": ["10 mx.x.example"], "tlsrpt": [], "sts": []},
                    new_id="1")
    [tlsa] = [i for i in rs.items if i.kind == "tlsa"]
    assert (tlsa.state, tlsa.differences) == ("unknown",
                                              ("mx.x.example: not probed: its key is unknown",))


def test_bad_mode_and_rua_are_refused() -> None:
    with pytest.raises(ValueError, match="mode must be testing or enforce"):
        core.build("x.example", "t", {}, mode="none", new_id="1")
    with pytest.raises(ValueError, match="scheme must be mailto: or https:"):
        core.build("x.example", "t", {}, rua=["ftp://x"], new_id="1")


def test_readmes_mailto_and_https_record_is_what_records_proposes_and_check_accepts() -> None:
    """The record README.md tells an admin to publish (both deliveries: mail, and POST to
    ``tlsrpt-tui receive``) is ``records --rua mailto:… --rua https://…``'s proposal, and the
    record check takes it as valid: ``tlsrpt.ok`` with both URIs, plus the ``many-rua`` note."""
    from pathlib import Path

    from tlsrpt_tui.core.checks.tlsrpt_record import tlsrpt_findings

    rua = ["mailto:tlsrpt@example.com", "https://tlsrpt.example.com/tlsrpt"]
    rs = core.build("example.com", "t", {"mx": ["10 mx.example.com"], "tlsrpt": [], "sts": []},
                    rua=rua, new_id="1")
    [item] = [i for i in rs.items if i.kind == "tlsrpt"]
    [record] = item.proposed
    assert record == "v=TLSRPTv1; rua=" + ",".join(rua)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f'_smtp._tls.example.com. IN TXT "{record}"' in readme
    findings, parsed = tlsrpt_findings("example.com", [record])
    assert {f.code for f in findings} == {"tlsrpt.ok", "tlsrpt.many-rua"}
    assert parsed is not None and parsed.rua == rua
