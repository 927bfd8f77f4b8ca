"""The TOML config file: domains to watch, check options, IMAP accounts, UI settings.

One file serves the CLI and the TUI. Errors name the file, the key and the reason, because a
mail admin edits this by hand over SSH and needs to know exactly which line to fix.

Example::

    domains = ["example.com", "example.net"]

    [checks]
    interval = 3600          # seconds between re-checks of one domain
    resolver = "127.0.0.1:53"
    ca_file = "/etc/ssl/extra-ca.pem"
    timeout = 10.0
    probe = true
    smtp_port = 25
    allow_private_targets = false

    [[accounts]]
    name = "reports"
    host = "imap.example.com"
    port = 993
    security = "tls"        # tls | starttls | plain
    username = "tlsrpt@example.com"
    password_env = "TLSRPT_IMAP_PASSWORD"  # or password_command = "..." or keyring = true
    folders = ["INBOX"]
    archive_folder = "TLSRPT/processed"
    trusted_authserv_id = "mx.example.com"  # optional: believe this MTA's DKIM result

    [receiver]               # HTTPS reports (rua=https:…): tlsrpt-tui receive, or inside watch
    listen = "127.0.0.1:8443"
    path = "/tlsrpt"
    tls_cert = "/etc/tlsrpt-tui/cert.pem"   # omit both behind a TLS-terminating proxy
    tls_key = "/etc/tlsrpt-tui/key.pem"
    trusted_proxies = ["127.0.0.1"]         # X-Forwarded-For is read from these only
    rate_limit = 60                         # requests per minute per client (0: no limit)

    [workers]                # several watch/sync processes on one store
    lease_seconds = 60       # a dead worker's folders, checks and alerts are taken over
                             # this long after its last renewal (at once on the same host)

    [alerts]                 # tlsrpt-tui watch (see ../shared/spec/alerts.md)
    min_severity = "warning"
    [[alerts.mail]]
    host = "smtp.example.com"
    from = "tlsrpt-tui <alerts@example.com>"
    to = ["postmaster@example.com"]
    username = "alerts@example.com"
    password_env = "TLSRPT_SMTP_PASSWORD"
    [[alerts.webhook]]
    url = "https://hooks.example.com/tlsrpt"

    [store]                  # optional: a shared PostgreSQL store instead of the SQLite file
    url = "postgresql://tlsrpt@db.example.com:5432/tlsrpt"   # sslmode=verify-full by default
    password_env = "TLSRPT_DB_PASSWORD"     # or password_command / keyring = true / ~/.pgpass
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from tlsrpt_tui.core.domain_name import normalize_domain

APP_NAME = "tlsrpt-tui"
CONFIG_ENV = "TLSRPT_TUI_CONFIG"
SECURITY_MODES = ("tls", "starttls", "plain")


class ConfigError(Exception):
    """The config file cannot be used; the message names the file, key and reason."""


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


@dataclass(frozen=True, slots=True)
class CheckSettings:
    interval: float = 3600.0
    resolver: str | None = None  # "HOST[:PORT]"; None = system resolver
    ca_file: str | None = None
    timeout: float = 10.0
    probe: bool = True
    smtp_port: int = 25
    https_port: int = 443
    allow_private_targets: bool = False


@dataclass(frozen=True, slots=True)
class AccountSettings:
    name: str
    host: str
    username: str
    port: int = 993
    security: str = "tls"
    password_env: str | None = None
    password_command: str | None = None
    keyring: bool = False
    #: A plain password in the file: only accepted when the file is owner-readable only.
    password: str | None = field(default=None, repr=False)
    folders: tuple[str, ...] = ("INBOX",)
    archive_folder: str | None = None
    ca_file: str | None = None
    auth: str = "login"  # login | xoauth2
    oauth_token_command: str | None = None
    #: Messages per FETCH and committed batch. 1,000, not fewer: each COMMIT rewrites every
    #: index page its reports touched (on a 10,000-report store a batch of 250 wrote 5.8
    #: pages a mail, 500 3.8, 1,000 2.3), so small batches cost the writer more CPU per mail
    #: (bench_sync.py, 10,000 mails: 4.4-4.9 s at 1,000 against 4.7-5.3 s at 500; 2,000 was
    #: no faster and took 80 instead of 66 MiB). A kill loses at most the batches in flight,
    #: which the next sync fetches again.
    batch_size: int = 1000
    #: Your MTA's authserv-id: its Authentication-Results header decides DKIM when our own
    #: check cannot (the key is gone from DNS, DNS fails) (RFC 8601).
    trusted_authserv_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """The HTTPS report receiver (``tlsrpt-tui receive``, or a task of ``watch``)."""

    listen: str | None = None  # "HOST:PORT"; None: no receiver
    path: str = "/tlsrpt"
    tls_cert: str | None = None
    tls_key: str | None = None
    #: Proxies whose X-Forwarded-For is believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    #: Requests per minute per client (a token bucket); 0: no limit.
    rate_limit: int = 60
    #: Bytes of one upload as received (RFC 8460 reports are kilobytes; gzip ones even less).
    max_body_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """``[store]``: where the store lives when ``--db``/``$TLSRPT_TUI_DB`` do not say: an
    SQLite path or a ``postgresql://`` URL (no password in it), and where its password is."""

    url: str | None = None
    password_env: str | None = None
    password_command: str | None = None
    keyring: bool = False


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """``[workers]``: how workers sharing one store hand work over (service/leasing.py)."""

    #: A lease not renewed for this long is taken over; renewed every third of it.
    lease_seconds: float = 60.0


SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True, slots=True)
class MailChannel:
    """``[[alerts.mail]]``: alerts by SMTP (aiosmtplib). Secrets as for ``[[accounts]]``."""

    host: str
    to: tuple[str, ...]
    sender: str = "tlsrpt-tui <tlsrpt-tui@localhost>"  # the TOML key is ``from``
    port: int = 587
    security: str = "starttls"  # starttls | tls | plain
    username: str | None = None
    password_env: str | None = None
    password_command: str | None = None
    keyring: bool = False
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 30.0
    name: str = ""  # set by the loader: "mail#1 (host)"


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """``[[alerts.webhook]]``: alerts as a JSON POST (httpx)."""

    url: str = field(repr=False)  # may carry a token: never shown whole
    ca_file: str | None = None
    timeout: float = 30.0
    name: str = ""  # set by the loader: "webhook#1 (host)"


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """``[alerts]``: what raises an alert and where alerts go (see spec/alerts.md)."""

    min_severity: str = "warning"
    report_gap_hours: float = 72.0
    remind_hours: float = 24.0
    require_aligned_dkim: bool = False
    mail: tuple[MailChannel, ...] = ()
    webhook: tuple[WebhookChannel, ...] = ()

    @property
    def channels(self) -> tuple[MailChannel | WebhookChannel, ...]:
        return (*self.mail, *self.webhook)


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None
    domains: tuple[str, ...] = ()
    checks: CheckSettings = field(default_factory=CheckSettings)
    accounts: tuple[AccountSettings, ...] = ()
    receiver: ReceiverSettings = field(default_factory=ReceiverSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)

    @property
    def is_empty(self) -> bool:
        return not self.domains and not self.accounts


def load_config(path: Path | str | None = None, *, required: bool = False) -> Config:
    """Load the config; a missing default file is an empty config, a missing named one an error."""
    explicit = path is not None
    cfg_path = Path(path) if path is not None else default_config_path()
    if not cfg_path.exists():
        if explicit or required:
            raise ConfigError(f"{cfg_path}: config file not found")
        return Config(path=cfg_path)
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{cfg_path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg_path}: invalid TOML: {exc}") from exc
    return parse_config(raw, cfg_path)


def parse_config(raw: dict[str, Any], cfg_path: Path) -> Config:
    domains = raw.get("domains", [])
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise ConfigError(f"{cfg_path}: 'domains' must be a list of domain names")
    try:  # A-labels, as the checks use them (IDN domains keep one key in the store)
        domains = list(dict.fromkeys(normalize_domain(d) for d in domains))
    except ValueError as exc:
        raise ConfigError(f"{cfg_path}: domains: {exc}") from None
    checks = _section(raw.get("checks", {}), CheckSettings, cfg_path, "checks")
    accounts_raw = raw.get("accounts", [])
    if not isinstance(accounts_raw, list):
        raise ConfigError(f"{cfg_path}: 'accounts' must be an array of tables ([[accounts]])")
    accounts = []
    for i, acc in enumerate(accounts_raw):
        where = f"accounts[{i}]"
        if isinstance(acc, dict) and isinstance(acc.get("folders"), list):
            acc = {**acc, "folders": tuple(acc["folders"])}
        account = _section(acc, AccountSettings, cfg_path, where)
        _check_connection(account, cfg_path, where)
        accounts.append(account)
    names = [a.name for a in accounts]
    if len(set(names)) != len(names):
        raise ConfigError(f"{cfg_path}: account names must be unique")
    receiver_raw = raw.get("receiver", {})
    if isinstance(receiver_raw, dict) and isinstance(receiver_raw.get("trusted_proxies"), list):
        receiver_raw = {**receiver_raw, "trusted_proxies": tuple(receiver_raw["trusted_proxies"])}
    receiver = _section(receiver_raw, ReceiverSettings, cfg_path, "receiver")
    if receiver.rate_limit < 0 or receiver.max_body_bytes < 1:
        raise ConfigError(
            f"{cfg_path}: receiver.rate_limit must be >= 0 and receiver.max_body_bytes >= 1"
        )
    workers = _section(raw.get("workers", {}), WorkerSettings, cfg_path, "workers")
    if workers.lease_seconds < 1:
        raise ConfigError(f"{cfg_path}: workers.lease_seconds must be >= 1")
    return Config(
        path=cfg_path,
        domains=tuple(domains),
        checks=checks,
        accounts=tuple(accounts),
        receiver=receiver,
        alerts=_alerts(raw.get("alerts", {}), cfg_path),
        store=_store(raw.get("store", {}), cfg_path),
        workers=workers,
    )


def _store(raw: Any, cfg_path: Path) -> StoreSettings:
    from tlsrpt_tui.store.location import LocationError, parse_location

    settings = _section(raw, StoreSettings, cfg_path, "store")
    if settings.url is not None:
        try:
            parse_location(settings.url)
        except LocationError as exc:
            raise ConfigError(f"{cfg_path}: store.url: {exc}") from None
    return settings


def _alerts(raw: Any, cfg_path: Path) -> AlertSettings:
    """``[alerts]`` with its ``[[alerts.mail]]`` and ``[[alerts.webhook]]`` channels."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg_path}: [alerts] must be a table")
    mail_raw, hook_raw = raw.get("mail", []), raw.get("webhook", [])
    for key, value in (("mail", mail_raw), ("webhook", hook_raw)):
        if not isinstance(value, list):
            raise ConfigError(f"{cfg_path}: alerts.{key} must be an array of tables "
                              f"([[alerts.{key}]])")
    base = _section({k: v for k, v in raw.items() if k not in ("mail", "webhook")},
                    AlertSettings, cfg_path, "alerts")
    if base.min_severity not in SEVERITIES:
        raise ConfigError(
            f"{cfg_path}: alerts.min_severity must be one of {', '.join(SEVERITIES)}"
        )
    if base.report_gap_hours <= 0 or base.remind_hours < 0:
        raise ConfigError(f"{cfg_path}: alerts.report_gap_hours must be > 0 and "
                          "alerts.remind_hours >= 0")
    mails = []
    for i, item in enumerate(mail_raw):
        where = f"alerts.mail[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{cfg_path}: [{where}] must be a table")
        item = dict(item)
        if "sender" in item:
            raise ConfigError(f"{cfg_path}: unknown key(s) in [{where}]: sender (use from)")
        if "from" in item:
            item["sender"] = item.pop("from")
        if isinstance(item.get("to"), str):
            item["to"] = [item["to"]]
        if not isinstance(item.get("to"), list) or not item["to"] or not all(
            isinstance(t, str) for t in item["to"]
        ):
            raise ConfigError(f"{cfg_path}: {where}.to must be a non-empty list of addresses")
        item["to"] = tuple(item["to"])
        if "name" in item:
            raise ConfigError(f"{cfg_path}: unknown key(s) in [{where}]: name")
        channel = _section(item, MailChannel, cfg_path, where)
        _check_connection(channel, cfg_path, where)
        mails.append(replace(channel, name=f"mail#{i + 1} ({channel.host})"))
    hooks = []
    for i, item in enumerate(hook_raw):
        where = f"alerts.webhook[{i}]"
        if isinstance(item, dict) and "name" in item:
            raise ConfigError(f"{cfg_path}: unknown key(s) in [{where}]: name")
        hook = _section(item, WebhookChannel, cfg_path, where)
        parts = urlsplit(hook.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"{cfg_path}: {where}.url must be an https:// (or http://) URL")
        hooks.append(replace(hook, name=f"webhook#{i + 1} ({parts.hostname})"))
    return replace(base, mail=tuple(mails), webhook=tuple(hooks))


def _check_connection(section: AccountSettings | MailChannel, cfg_path: Path, where: str) -> None:
    """An IMAP account or SMTP channel: a known security mode, and a plain password only in a
    file nobody else can read."""
    if section.security not in SECURITY_MODES:
        raise ConfigError(
            f"{cfg_path}: {where}.security must be one of {', '.join(SECURITY_MODES)}"
        )
    if section.password is not None and _readable_by_others(cfg_path):
        raise ConfigError(
            f"{cfg_path}: {where} holds a plain password but the file is readable by "
            f"group or others; run 'chmod 600 {cfg_path}' or use password_env/"
            "password_command/keyring"
        )


def _readable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def _section(raw: Any, cls: type, cfg_path: Path, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg_path}: [{where}] must be a table")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{cfg_path}: unknown key(s) in [{where}]: {', '.join(unknown)}")
    try:
        value = cls(**raw)
    except TypeError as exc:
        raise ConfigError(f"{cfg_path}: [{where}]: {exc}") from exc
    for name, f in cls.__dataclass_fields__.items():
        _check_type(getattr(value, name), f.type, cfg_path, f"{where}.{name}")
    return value


_TYPES: dict[str, tuple[type, ...]] = {
    "float": (int, float),
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "str | None": (str, type(None)),
    "tuple[str, ...]": (tuple,),
}


def _check_type(value: Any, annotation: Any, cfg_path: Path, where: str) -> None:
    allowed = _TYPES.get(str(annotation))
    if allowed is None:
        return
    if isinstance(value, bool) and bool not in allowed:
        raise ConfigError(f"{cfg_path}: {where} must be {annotation}, not a boolean")
    if not isinstance(value, allowed):
        raise ConfigError(f"{cfg_path}: {where} must be {annotation}, got {value!r}")
