"""The TLS-RPT record: TXT at ``_smtp._tls.<domain>`` (RFC 8460 §3) → tlsrpt.* findings.

Senders pick the records that begin with ``v=TLSRPTv1``; with none or more than one they send
no reports, so "two records" is as bad as "no record". Multi-string TXT data arrives already
joined (without separators). Unknown extension fields are ignored, as the RFC requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tlsrpt_tui.core.checks.catalogue import finding
from tlsrpt_tui.core.findings import Finding

VERSION = "v=TLSRPTv1"
_EXT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_EXT_VALUE = re.compile(r"^[\x21-\x3a\x3c\x3e-\x7e]+$")
_HOST = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$|^\"[^\"]*\"$")


@dataclass(slots=True)
class TlsrptRecord:
    """A parsed record: its rua URIs and the problems found in it."""

    raw: str
    rua: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (code, detail)


def is_candidate(txt: str) -> bool:
    """A TXT string that tries to be a TLS-RPT record (even a broken one)."""
    low = txt.strip().lower()
    return low.startswith("v=tlsrpt") or "v=tlsrptv1" in low or "rua=" in low


def valid_uri(uri: str) -> str | None:
    """None when ``uri`` is a valid rua URI, else the reason."""
    if not (uri.isascii() and uri.isprintable()):
        # A URI is printable ASCII (RFC 3986); an ESC or C1 byte in an accepted URI would reach
        # the terminal in the tlsrpt.ok finding.
        return f"{uri!r}: holds control or non-ASCII characters"
    if "!" in uri:
        return f"{uri!r}: a '!' size suffix is DMARC syntax, not valid in TLS-RPT"
    scheme, _, rest = uri.partition(":")
    scheme_l = scheme.lower()
    if scheme_l == "mailto":
        addr = rest.split("?", 1)[0]
        local, at, domain = addr.rpartition("@")
        if not at or not local or not _LOCAL.match(local) or not _HOST.match(domain):
            return f"{uri!r}: not a mailto: with a valid address"
        return None
    if scheme_l == "https":
        try:
            parts = urlsplit(uri)
            host = parts.hostname
            _ = parts.port
        except ValueError:
            return f"{uri!r}: malformed https URI"
        if not rest.startswith("//") or not host or any(c.isspace() for c in uri):
            return f"{uri!r}: malformed https URI"
        return None
    return f"{uri!r}: scheme must be mailto: or https:"


def parse_record(txt: str) -> TlsrptRecord:
    """Parse one record per the RFC 8460 §3 grammar, collecting every problem."""
    rec = TlsrptRecord(raw=txt)
    parts = [p.strip(" \t") for p in txt.split(";")]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()  # one trailing delimiter is allowed
    if not parts or parts[0] != VERSION:
        rec.errors.append(("tlsrpt.syntax", f"the record must begin with {VERSION}"))
    seen_rua = False
    for part in parts[1:]:
        if part == "":
            rec.errors.append(("tlsrpt.syntax", "empty field between ';'"))
            continue
        name, eq, value = part.partition("=")
        if not eq:
            rec.errors.append(("tlsrpt.syntax", f"field {part!r} is not name=value"))
            continue
        if name == "rua":
            if seen_rua:
                rec.errors.append(("tlsrpt.syntax", "rua given more than once"))
                continue
            seen_rua = True
            uris = [u.strip(" \t") for u in value.split(",")]
            for uri in uris:
                if not uri:
                    rec.errors.append(("tlsrpt.bad-uri", "empty URI in rua"))
                    continue
                reason = valid_uri(uri)
                if reason:
                    rec.errors.append(("tlsrpt.bad-uri", reason))
                else:
                    rec.rua.append(uri)
        elif name == "v":
            rec.errors.append(("tlsrpt.syntax", "v= must come first and only once"))
        elif not _EXT_NAME.match(name) or not _EXT_VALUE.match(value):
            rec.errors.append(("tlsrpt.syntax", f"bad extension field {part!r}"))
    if not seen_rua:
        rec.errors.append(("tlsrpt.no-rua", ""))
    return rec


def tlsrpt_findings(domain: str, txts: list[str]) -> tuple[list[Finding], TlsrptRecord | None]:
    """Findings for the TXT strings found at ``_smtp._tls.<domain>`` (lookup succeeded).

    Returns the findings and the one valid record (None when senders would find none).
    """
    subject = f"_smtp._tls.{domain}"
    versioned = [t for t in txts if t.startswith(VERSION)]
    broken = [t for t in txts if t not in versioned and is_candidate(t)]
    unrelated = [t for t in txts if t not in versioned and t not in broken]
    out: list[Finding] = []
    record: TlsrptRecord | None = None
    if len(versioned) > 1:
        out.append(finding("tlsrpt.multiple", subject, f"{len(versioned)} records"))
    elif len(versioned) == 1:
        rec = parse_record(versioned[0])
        if rec.errors:
            for code, detail in _dedupe(rec.errors):
                out.append(finding(code, subject, detail or None))
        else:
            record = rec
            out.append(finding("tlsrpt.ok", subject, ", ".join(rec.rua)))
            if len(rec.rua) > 1:
                out.append(finding("tlsrpt.many-rua", subject, ", ".join(rec.rua)))
    for txt in broken:
        version = txt.split(";", 1)[0].strip()
        out.append(finding("tlsrpt.syntax", subject, f"{version!r} is not the literal {VERSION}"))
    if not versioned and not broken:
        out.append(finding("tlsrpt.missing", subject))
    if unrelated:
        out.append(finding("tlsrpt.unrelated-txt", subject, f"{len(unrelated)} ignored"))
    return out, record


def _dedupe(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Merge problems of the same code into one finding with all details."""
    merged: dict[str, list[str]] = {}
    for code, detail in errors:
        merged.setdefault(code, [])
        if detail:
            merged[code].append(detail)
    return [(code, "; ".join(details)) for code, details in merged.items()]
