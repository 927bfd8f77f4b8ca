"""The MTA-STS record: TXT at ``_mta-sts.<domain>`` (RFC 8461 §3.1) → sts.record.* findings.

Records that do not begin with ``v=STSv1`` are discarded; if not exactly one remains, or it is
invalid, senders assume there is no policy. Duplicate fields: the first wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tlsrpt_tui.core.checks.catalogue import finding
from tlsrpt_tui.core.findings import Finding

VERSION = "v=STSv1"
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_EXT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_EXT_VALUE = re.compile(r"^[\x21-\x3a\x3c\x3e-\x7e]+$")


@dataclass(frozen=True, slots=True)
class StsRecord:
    raw: str
    id: str


def sts_record_findings(domain: str, txts: list[str]) -> tuple[list[Finding], StsRecord | None]:
    """Findings for the TXT strings at ``_mta-sts.<domain>`` (lookup succeeded)."""
    subject = f"_mta-sts.{domain}"
    versioned = [t for t in txts if t.startswith(VERSION)]
    broken = [t for t in txts if t not in versioned and t.strip().lower().startswith("v=sts")]
    if len(versioned) > 1:
        return [finding("sts.record.multiple", subject, f"{len(versioned)} records")], None
    if not versioned:
        if broken:
            detail = f"{broken[0].split(';', 1)[0].strip()!r} is not the literal {VERSION}"
            return [finding("sts.record.syntax", subject, detail)], None
        return [finding("sts.record.missing", subject)], None
    raw = versioned[0]
    parts = [p.strip(" \t") for p in raw.split(";")]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    out: list[Finding] = []
    fields: dict[str, str] = {}
    if parts[0] != VERSION:
        out.append(finding("sts.record.syntax", subject, f"the record must begin with {VERSION}"))
    for part in parts[1:]:
        name, eq, value = part.partition("=")
        if not eq or not _EXT_NAME.match(name):
            out.append(finding("sts.record.syntax", subject, f"field {part!r} is not name=value"))
            continue
        if name != "id" and not _EXT_VALUE.match(value):
            out.append(finding("sts.record.syntax", subject, f"bad field value in {part!r}"))
            continue
        fields.setdefault(name, value)  # the first of duplicate fields wins
    rec_id = fields.get("id")
    if rec_id is None:
        out.append(finding("sts.record.bad-id", subject, "no id field"))
    elif not _ID.match(rec_id):
        out.append(finding("sts.record.bad-id", subject, f"id={rec_id!r}"))
    if out:
        return out, None
    assert rec_id is not None
    return [finding("sts.record.ok", subject, f"id={rec_id}")], StsRecord(raw=raw, id=rec_id)
