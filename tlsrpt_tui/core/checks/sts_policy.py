"""The MTA-STS policy file (RFC 8461 §3.2) and how it covers the MX set (§4.1) → findings.

Pure: the text comes from net/policy_fetch.py. Parsing follows what senders do: LF or CRLF
line endings, ``key: value`` lines, keys case-sensitive, the first of duplicate keys wins (``mx``
lines accumulate), unknown extension keys ignored. Any error makes the whole policy invalid
(senders then act as if there were none), so the findings say exactly which line to fix.

Entry points: ``check_policy(text, url)`` → (findings, policy or None when invalid);
``policy_coverage_findings(policy, mx_hosts, tlsrpt_ok)`` → mode + coverage findings;
``mx_matches``; ``id_unchanged_finding``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tlsrpt_tui.core.checks.catalogue import finding
from tlsrpt_tui.core.findings import Finding, Severity

MAX_AGE_LIMIT = 31_557_600  # RFC 8461 §3.2: at most one year
ONE_DAY = 86_400
MODES = ("enforce", "testing", "none")
KNOWN_KEYS = ("version", "mode", "max_age", "mx")

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MAX_REPORTED = 5  # problems listed in one finding; more are counted


@dataclass(frozen=True, slots=True)
class StsPolicy:
    """A parsed policy. ``valid`` is False when senders would reject it."""

    version: str | None
    mode: str | None
    max_age: int | None
    mx: tuple[str, ...]
    url: str = ""
    extensions: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()  # sts.policy.invalid reasons, each naming its line
    bad_patterns: tuple[str, ...] = ()  # sts.policy.mx-pattern reasons

    @property
    def valid(self) -> bool:
        return not self.problems and not self.bad_patterns


@dataclass(slots=True)
class _Fields:
    values: dict[str, tuple[int, str]] = field(default_factory=dict)
    mx: list[tuple[int, str]] = field(default_factory=list)
    ext: list[tuple[str, str]] = field(default_factory=list)


def mx_pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a host name or ``*.`` + host name (None when it is fine)."""
    name = pattern[:-1] if pattern.endswith(".") else pattern
    if name.startswith("[") or _is_ip(name):
        return "an IP address, not a host name"
    wildcard = name.startswith("*.")
    base = name[2:] if wildcard else name
    if "*" in base:
        return "a misplaced wildcard (only *. followed by a host name is allowed)"
    labels = base.split(".")
    if not base or not all(_LABEL.match(label) for label in labels):
        return "not a valid host name"
    if labels[-1].isdigit():
        return "not a valid host name (numeric top-level label)"
    if wildcard and len(labels) < 2:
        return "a wildcard needs at least two labels after *."
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_policy(text: str, url: str = "") -> StsPolicy:
    """Parse the policy text; problems are recorded in the result, never raised."""
    fields = _Fields()
    problems: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line ending
    for number, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if "\r" in line:
            problems.append(f"line {number}: stray carriage return")
            continue
        if not line.strip():
            continue  # blank lines: tolerated, as senders do
        key, colon, value = line.partition(":")
        if not colon:
            problems.append(f"line {number}: {_show(line)} is not 'key: value'")
            continue
        if not _KEY.match(key):
            problems.append(f"line {number}: {_show(key)} is not a valid key")
            continue
        value = value.strip(" \t")
        if key in ("version", "mode", "max_age"):
            fields.values.setdefault(key, (number, value))  # the first duplicate wins
        elif key == "mx":
            fields.mx.append((number, value))
        else:
            if key.lower() in KNOWN_KEYS:
                problems.append(
                    f"line {number}: key {key!r} must be written {key.lower()!r} "
                    "(keys are case-sensitive)"
                )
            fields.ext.append((key, value))

    version = _field(fields, "version")
    mode = _field(fields, "mode")
    max_age_text = _field(fields, "max_age")
    if version is None:
        problems.append("no 'version: STSv1' line")
    elif version != "STSv1":
        problems.append(f"line {_line(fields, 'version')}: version {_show(version)} is not STSv1")
    if mode is None:
        problems.append("no 'mode' line")
    elif mode not in MODES:
        problems.append(
            f"line {_line(fields, 'mode')}: mode {_show(mode)} is not enforce, testing or none"
        )
    max_age: int | None = None
    if max_age_text is None:
        problems.append("no 'max_age' line")
    elif not (max_age_text.isascii() and max_age_text.isdigit()):
        problems.append(
            f"line {_line(fields, 'max_age')}: max_age {_show(max_age_text)} is not a number"
        )
    elif len(max_age_text) > 10 or int(max_age_text) > MAX_AGE_LIMIT:
        # RFC 8461 grammar: 1*10DIGIT. Checking the length first also keeps int() from raising
        # on a 5000-digit value (Python's int-from-string digit limit).
        problems.append(
            f"line {_line(fields, 'max_age')}: max_age {max_age_text[:20]}"
            f"{'...' if len(max_age_text) > 20 else ''} is over {MAX_AGE_LIMIT} (one year)"
        )
    else:
        max_age = int(max_age_text)
    if mode in ("enforce", "testing") and not fields.mx:
        problems.append(f"no 'mx' line (required in mode {mode})")

    bad_patterns = []
    patterns = []
    for number, pattern in fields.mx:
        reason = mx_pattern_error(pattern)
        if reason:
            bad_patterns.append(f"line {number}: mx {_show(pattern)} is {reason}")
        else:
            patterns.append(pattern)
    return StsPolicy(
        version=version,
        mode=mode,
        max_age=max_age,
        mx=tuple(patterns),
        url=url,
        extensions=tuple(fields.ext),
        problems=tuple(problems),
        bad_patterns=tuple(bad_patterns),
    )


def _field(fields: _Fields, key: str) -> str | None:
    entry = fields.values.get(key)
    return entry[1] if entry else None


def _line(fields: _Fields, key: str) -> int:
    return fields.values[key][0]


def _show(text: str) -> str:
    """Untrusted text for a message: repr() escapes control characters, and long text is cut."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_policy(text: str, url: str = "") -> tuple[list[Finding], StsPolicy | None]:
    """Findings for a fetched policy, and the policy when senders would accept it.

    sts.policy.testing is not decided here (it depends on the TLS-RPT record): see
    ``policy_coverage_findings``.
    """
    policy = parse_policy(text, url)
    out: list[Finding] = []
    if policy.problems:
        shown = list(policy.problems[:_MAX_REPORTED])
        if len(policy.problems) > _MAX_REPORTED:
            shown.append(f"and {len(policy.problems) - _MAX_REPORTED} more")
        out.append(finding("sts.policy.invalid", url, "; ".join(shown)))
    out += [finding("sts.policy.mx-pattern", url, reason) for reason in policy.bad_patterns]
    if not policy.valid:
        return out, None
    if policy.mode == "none":
        out.append(finding("sts.policy.none", url))
    if policy.max_age is not None and policy.max_age < ONE_DAY:
        out.append(finding("sts.policy.max-age-low", url, f"max_age: {policy.max_age}"))
    detail = f"mode {policy.mode}, max_age {policy.max_age}, mx {', '.join(policy.mx) or '-'}"
    out.insert(0, finding("sts.policy.ok", url, detail))
    return out, policy


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: exact (case-insensitive), or ``*.example.com`` = exactly one more label."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, dot, rest = host.partition(".")
        return bool(head) and bool(dot) and rest == pattern[2:]
    return pattern == host


def _host_name(mx: object) -> str:
    return mx if isinstance(mx, str) else str(getattr(mx, "host", mx))


def mode_findings(policy: StsPolicy, tlsrpt_ok: bool | None = True) -> list[Finding]:
    """sts.policy.testing: info, or a warning when there is no valid TLS-RPT record to say
    what testing mode found (then testing mode tells nobody anything)."""
    if policy.mode != "testing":
        return []
    if tlsrpt_ok is False:
        return [
            finding(
                "sts.policy.testing",
                policy.url,
                "and there is no valid TLS-RPT record, so nobody hears about failures",
                severity=Severity.WARNING,
            )
        ]
    return [finding("sts.policy.testing", policy.url)]


def coverage_findings(policy: StsPolicy, mx_hosts: Iterable[object]) -> list[Finding]:
    """sts.policy.mx-uncovered for each MX no pattern matches; sts.policy.stale-pattern for each
    pattern no MX matches. Nothing for mode none (the policy enforces nothing)."""
    if policy.mode not in ("enforce", "testing"):
        return []
    hosts = [_host_name(h).rstrip(".") for h in mx_hosts]
    hosts = [h for h in hosts if h]  # a null MX "." has no host to cover
    out: list[Finding] = []
    for host in hosts:
        if not any(mx_matches(p, host) for p in policy.mx):
            severity = Severity.ERROR if policy.mode == "enforce" else Severity.WARNING
            detail = f"{host} is not matched by {', '.join(policy.mx) or 'any mx line'}"
            if policy.mode == "testing":
                detail += " (testing mode: reported, mail still delivered)"
            out.append(finding("sts.policy.mx-uncovered", host, detail, severity=severity))
    for pattern in policy.mx:
        if not any(mx_matches(pattern, h) for h in hosts):
            out.append(finding("sts.policy.stale-pattern", policy.url, f"mx: {pattern}"))
    return out


def policy_coverage_findings(
    policy: StsPolicy, mx_hosts: Iterable[object], tlsrpt_ok: bool | None = True
) -> list[Finding]:
    """Everything about a valid policy that depends on the rest of the domain's state."""
    return mode_findings(policy, tlsrpt_ok) + coverage_findings(policy, mx_hosts)


def _normalized(body: str) -> list[str]:
    return [line.rstrip() for line in body.replace("\r\n", "\n").split("\n") if line.strip()]


def id_unchanged_finding(
    prev_id: str | None,
    prev_body: str | None,
    cur_id: str | None,
    cur_body: str | None,
    *,
    subject: str = "",
) -> Finding | None:
    """sts.policy.id-unchanged when the policy content changed but the TXT id did not.

    Line endings, trailing blanks and blank lines do not count as a change: senders parse the
    same policy either way. Anything unknown (no previous check) gives None.
    """
    if None in (prev_id, prev_body, cur_id, cur_body) or prev_id != cur_id:
        return None
    assert prev_body is not None and cur_body is not None
    if _normalized(prev_body) == _normalized(cur_body):
        return None
    return finding("sts.policy.id-unchanged", subject, f"id={cur_id}")
