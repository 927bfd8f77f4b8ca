"""The config file: good files load, bad ones are refused with the file, key and reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tlsrpt_tui.service.config import ConfigError, load_config


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_full_config_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
domains = ["Example.COM.", "example.net"]
[checks]
interval = 600
resolver = "127.0.0.1:5353"
probe = false
[[accounts]]
name = "main"
host = "imap.example.com"
username = "u"
password_env = "PW"
folders = ["INBOX", "Reports"]
""",
    )
    cfg = load_config(path)
    assert cfg.domains == ("example.com", "example.net")
    assert cfg.checks.interval == 600
    assert cfg.checks.probe is False
    assert cfg.checks.resolver == "127.0.0.1:5353"
    assert cfg.accounts[0].folders == ("INBOX", "Reports")
    assert cfg.accounts[0].security == "tls"
    assert not cfg.is_empty


def test_missing_default_is_empty_but_missing_named_is_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TLSRPT_TUI_CONFIG", str(tmp_path / "absent.toml"))
    assert load_config().is_empty
    with pytest.raises(ConfigError, match=r"absent\.toml: config file not found"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("domains = 'x'", "'domains' must be a list"),
        ("[checks]\ntimeout = 'slow'", r"checks.timeout must be float"),
        ("[checks]\nbogus = 1", r"unknown key\(s\) in \[checks\]: bogus"),
        (
            "[[accounts]]\nname='a'\nhost='h'\nusername='u'\nsecurity='ssl'",
            "security must be one of",
        ),
        ("[[accounts]]\nname='a'\nhost='h'", "accounts\\[0\\]"),
        ("domains = [", "invalid TOML"),
        ("[checks]\nprobe = 1", "checks.probe must be bool"),
    ],
)
def test_bad_config_names_file_key_and_reason(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_plain_password_needs_owner_only_file(tmp_path: Path) -> None:
    text = "[[accounts]]\nname='a'\nhost='h'\nusername='u'\npassword='s3cret-pw'\n"
    path = write(tmp_path, text, mode=0o644)
    with pytest.raises(ConfigError, match="readable by group or others") as err:
        load_config(path)
    assert "s3cret-pw" not in str(err.value)
    os.chmod(path, 0o600)
    account = load_config(path).accounts[0]
    assert account.password == "s3cret-pw"
    assert "s3cret-pw" not in repr(account)


def test_domains_are_normalised_to_a_labels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """As the checks spell them, so stored results keep one key per domain (IDN included)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('domains = ["Bücher.Example.", "xn--bcher-kva.example", "EXAMPLE.com"]\n')
    assert load_config(cfg).domains == ("xn--bcher-kva.example", "example.com")
    cfg.write_text('domains = ["good.example", "bad..example"]\n')
    with pytest.raises(ConfigError, match=r"domains: 'bad\.\.example': not a domain name"):
        load_config(cfg)
