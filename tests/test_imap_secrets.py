"""Where IMAP passwords and tokens come from, and that errors never carry them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlsrpt_tui.service import secrets
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.secrets import SecretError, get_oauth_token, get_password


def acct(**kw: object) -> AccountSettings:
    return AccountSettings(name="main", host="imap.example", username="u", **kw)  # type: ignore[arg-type]


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "secret.sh"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o700)
    return path


def test_env_variable() -> None:
    assert get_password(acct(password_env="PW"), env={"PW": "hunter2"}) == "hunter2"
    with pytest.raises(SecretError, match="account main: environment variable PW"):
        get_password(acct(password_env="PW"), env={})


def test_command_first_line(tmp_path: Path) -> None:
    exe = script(tmp_path, 'echo "first-line-secret"; echo second')
    assert get_password(acct(password_command=str(exe))) == "first-line-secret"
    # Quoted arguments (a path with a space) work as they would in a shell.
    exe2 = script(tmp_path, 'printf "%s\\n" "$1"')
    spaced = tmp_path / "dir with space"
    spaced.mkdir()
    target = spaced / "s.sh"
    exe2.rename(target)
    value = get_password(acct(password_command=f"'{target}' 'two words'"))
    assert value == "two words"


def test_command_with_shell_syntax(tmp_path: Path) -> None:
    assert get_password(acct(password_command="echo abc | tr a-c x-z")) == "xyz"


def test_failing_command_reports_status_and_stderr_not_stdout(tmp_path: Path) -> None:
    exe = script(tmp_path, "echo leaked-secret; echo 'gpg: decryption failed' >&2; exit 3")
    with pytest.raises(SecretError) as info:
        get_password(acct(password_command=str(exe)))
    msg = str(info.value)
    assert msg == (
        "account main: password_command failed (exit status 3): gpg: decryption failed"
    )
    assert "leaked-secret" not in msg


def test_command_errors(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="command not found: /nonexistent/pw"):
        get_password(acct(password_command="/nonexistent/pw"))
    with pytest.raises(SecretError, match="printed nothing"):
        get_password(acct(password_command=str(script(tmp_path, "true"))))
    with pytest.raises(SecretError, match=r"no answer within 0\.5s"):
        secrets.run_secret_command("sleep 5", "test", timeout=0.5)


def test_plain_password_and_nothing_configured() -> None:
    assert get_password(acct(password="in-file")) == "in-file"
    with pytest.raises(SecretError, match="no password configured"):
        get_password(acct())
    # The password is never in the settings' repr (tracebacks, debug prints).
    assert "in-file" not in repr(acct(password="in-file"))


def test_oauth_token_command(tmp_path: Path) -> None:
    exe = script(tmp_path, "echo ya29.token")
    assert get_oauth_token(acct(auth="xoauth2", oauth_token_command=str(exe))) == "ya29.token"
    with pytest.raises(SecretError, match="oauth_token_command"):
        get_oauth_token(acct(auth="xoauth2"))


def test_keyring_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        store: dict[tuple[str, str], str] = {}  # noqa: RUF012

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        with pytest.raises(SecretError, match="keyring set tlsrpt-tui main"):
            get_password(acct(keyring=True))
        keyring.set_password("tlsrpt-tui", "main", "from-keyring")
        assert get_password(acct(keyring=True)) == "from-keyring"
    finally:
        keyring.set_keyring(previous)
