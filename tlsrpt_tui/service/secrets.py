"""Passwords and OAuth tokens for IMAP accounts (and SMTP alert channels), from wherever the
admin keeps them.

Sources, in order: ``password_env`` (an environment variable), ``password_command`` (first line
of its stdout), ``keyring`` (service ``tlsrpt-tui``, user ``<account name>``; falls back to the
IMAP user name; for an ``[[alerts.mail]]`` channel: its SMTP user name), a plain ``password``
in a config file only its owner can read (the config loader refuses it otherwise). For
``auth = "xoauth2"`` the token comes from ``oauth_token_command``.

A secret is never put in an exception message, a log line, or a command line: commands are run
without a shell when they need none, with stdin closed and a timeout, and only their exit code
and the first line of stderr are reported when they fail.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping

from tlsrpt_tui.service.config import AccountSettings, MailChannel, StoreSettings

KEYRING_SERVICE = "tlsrpt-tui"
COMMAND_TIMEOUT = 30.0
_SHELL_CHARS = set("|&;<>()$`\\\"'*?[]#~=%{}\n")


class SecretError(Exception):
    """No usable secret; the message names the account and the source, never the secret."""


def get_password(
    account: AccountSettings | MailChannel, *, env: Mapping[str, str] | None = None
) -> str:
    """The account's IMAP password (or the alert channel's SMTP password) from the first
    configured source."""
    env = os.environ if env is None else env
    who = account.name if isinstance(account, MailChannel) else f"account {account.name}"
    if account.password_env:
        value = env.get(account.password_env)
        if not value:
            raise SecretError(
                f"{who}: environment variable {account.password_env} (password_env) is not set"
            )
        return value
    if account.password_command:
        return run_secret_command(account.password_command, f"{who}: password_command")
    if account.keyring:
        return _from_keyring(account)
    if account.password is not None:
        return account.password
    raise SecretError(
        f"{who}: no password configured (set password_env, password_command, keyring = true, "
        "or password in an owner-only config file)"
    )


def get_oauth_token(account: AccountSettings) -> str:
    """The bearer token for XOAUTH2, from ``oauth_token_command``."""
    if not account.oauth_token_command:
        raise SecretError(
            f"account {account.name}: auth = xoauth2 needs oauth_token_command "
            "(a command printing a current access token)"
        )
    return run_secret_command(
        account.oauth_token_command, f"account {account.name}: oauth_token_command"
    )


def run_secret_command(command: str, what: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a configured command and return the first line of its stdout.

    Without shell syntax the command is split and run directly (no shell process, nothing
    re-interpreted); with pipes, quotes or variables it runs under ``/bin/sh -c``. Either way
    the command line is the admin's own text and never contains the secret.
    """
    if not command.strip():
        raise SecretError(f"{what} is empty")
    argv = ["/bin/sh", "-c", command] if _SHELL_CHARS & set(command) else shlex.split(command)
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise SecretError(f"{what}: command not found: {argv[0]}") from None
    except PermissionError:
        raise SecretError(f"{what}: command not executable: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"{what}: no answer within {timeout:g}s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {_printable(err[0])[:200]}" if err else ""
        raise SecretError(f"{what} failed (exit status {proc.returncode}){detail}")
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    value = lines[0].strip("\r\n") if lines else ""
    if not value:
        raise SecretError(f"{what} printed nothing on its first line")
    return value


def _from_keyring(account: AccountSettings | MailChannel) -> str:
    if isinstance(account, MailChannel):  # its name ("mail#1 (host)") is ours, not the admin's
        user = account.username or ""
        # (the generated name too: earlier versions suggested storing it under that)
        return _keyring_value(account.name, [u for u in (user, account.name) if u],
                              shlex.quote(user))
    return _keyring_value(f"account {account.name}", [account.name, account.username],
                          account.name)


def get_store_password(settings: StoreSettings, *,
                       env: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL store's password from ``[store]``; None when no source is configured
    (libpq then looks in ``~/.pgpass``/``$PGPASSFILE``, or the server needs none)."""
    env = os.environ if env is None else env
    if settings.password_env:
        value = env.get(settings.password_env)
        if not value:
            raise SecretError(f"[store]: environment variable {settings.password_env}"
                              " (password_env) is not set")
        return value
    if settings.password_command:
        return run_secret_command(settings.password_command, "[store] password_command")
    if settings.keyring:
        return _keyring_value("[store]", [STORE_KEYRING_USER], STORE_KEYRING_USER)
    return None


#: the keyring user name of the store's password (service ``tlsrpt-tui``)
STORE_KEYRING_USER = "store"


def _keyring_value(who: str, users: list[str], hint_user: str) -> str:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise SecretError(f"{who}: keyring = true but the keyring package is missing") from None
    value = None
    try:
        for user in users:
            value = keyring.get_password(KEYRING_SERVICE, user)
            if value is not None:
                break
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"{who}: keyring unavailable ({type(exc).__name__})") from None
    if not value:
        raise SecretError(
            f"{who}: no password in the keyring; store one with "
            f"'keyring set {KEYRING_SERVICE} {hint_user}'"
        )
    return value


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)
