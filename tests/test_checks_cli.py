"""The ``check`` command: usage errors (exit 2) and inert rendering of untrusted text."""

from __future__ import annotations

import io

import pytest

from tlsrpt_tui.cli import main
from tlsrpt_tui.commands import check_cmd
from tlsrpt_tui.core.checks.catalogue import finding
from tlsrpt_tui.core.findings import Severity
from tlsrpt_tui.service.checks import CheckOptions, DomainStatus
from tlsrpt_tui.service.config import CheckSettings


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text("domains = []\n[checks]\ntimeout = 1.0\n")
    monkeypatch.setenv("TLSRPT_TUI_CONFIG", str(cfg))
    monkeypatch.setenv("TLSRPT_TUI_DB", str(tmp_path / "s.sqlite3"))
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["check"], "no DOMAIN given"),
        (["check", "exa mple.com"], "'exa mple.com': not a domain name"),
        (["check", "example.com", "--resolver", "dns.example:53"], "not a host name"),
        (["check", "example.com", "--resolver", "127.0.0.1:99999"], "port out of range"),
        (["check", "example.com", "--ca-file", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
    ],
)
def test_usage_errors_exit_2(isolated, capsys, argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv", [["check", "x.test", "--timeout", "0"], ["check", "--smtp-port", "x"]]
)
def test_bad_option_values_exit_2(isolated, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_table_shows_untrusted_text_inert(monkeypatch) -> None:
    evil = "mx.example.com\x1b]52;c;ZWNobyBoaQ==\x07\x1b[31m"
    status = DomainStatus(
        "example.com",
        "2026-11-28T00:00:00+00:00",
        Severity.ERROR,
        {},
        [finding("tls.host-mismatch", evil, f"{evil} not in SAN")],
    )
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    check_cmd.print_status(status, ["new: tls.host-mismatch (x\x1by)"])
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]52;c;ZWNobyBoaQ==\\x07" in text
    assert "senders report: certificate-host-mismatch" in text
    assert "fix: put each MX host name" in text


def test_options_from_config_and_overrides() -> None:
    settings = CheckSettings(resolver="127.0.0.1:53", timeout=4.0, probe=True, smtp_port=2525)
    opts = CheckOptions.from_settings(settings, timeout=None, probe=False, resolver=None)
    assert (opts.resolver, opts.timeout, opts.probe, opts.smtp_port) == (
        "127.0.0.1:53",
        4.0,
        False,
        2525,
    )
    assert check_cmd.clean("a\nb\x9bc") == "a\\x0ab\\u009bc"


def test_json_output_is_the_stdlib_text() -> None:
    """--format json is written by msgspec: byte for byte what json.dumps(indent=2,
    ensure_ascii=False) wrote, untrusted text included (quotes, controls, U+2028, non-ASCII)."""
    import json

    weird = 'mx "q" \\ \x1b[31m\u2028 é 日本 \x7f'
    status = DomainStatus(
        "example.com", "2026-12-01T00:00:00+00:00", Severity.ERROR,
        {"mx": ["10 " + weird], "tlsa": {"mx.example.com": {"state": "secure", "records": [],
                                                          "chain": {"mx": True, "address": None}}},
         "policy_status": 200, "empty": {}},
        [finding("sts.policy.webpki", weird, "detail " + weird)],
    )  # fmt: skip
    data = [status.to_json(), status.to_json()]
    assert check_cmd.json_text(data) == json.dumps(data, indent=2, ensure_ascii=False)
    assert check_cmd.json_text([]) == json.dumps([], indent=2)
