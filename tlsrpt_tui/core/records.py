"""What to publish: the TLS-RPT and MTA-STS records, the policy file and TLSA, beside what is there.

Pure: the input is the ``records`` of one live check (``service.checks.check_domain``: the TXT
strings, the fetched policy, the MX set, the TLSA RRsets and what each MX presented on STARTTLS),
so the generator sees exactly what ``check`` saw, through the same resolver, trust and probe.
Nothing is written anywhere; the output is zone-file lines and a policy file to paste.

Why keep what is right: an admin asks "what do I change?", so every item starts from what is
published and changes only what is wrong or asked for (a new rua, another mode). A published
policy's patterns that still match an MX are kept; only an uncovered MX adds a line. The
``_mta-sts`` id changes only when the policy does, because a new id makes every sender refetch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tlsrpt_tui.core.checks.sts_policy import ONE_DAY, mx_matches, parse_policy
from tlsrpt_tui.core.checks.sts_record import sts_record_findings
from tlsrpt_tui.core.checks.tlsrpt_record import tlsrpt_findings, valid_uri
from tlsrpt_tui.core.findings import Finding, Severity

TTL = 3600
ONE_WEEK = 604_800
ONE_YEAR = 31_557_600
MAX_AGE_ADVICE = (
    "max_age: a day (86400) while testing lets a changed policy reach senders quickly; a week "
    "(604800) or more in enforce; up to a year (31557600) once months of reports are clean"
)
ROLLOVER_ADVICE = (
    "before replacing this key, publish the next key's 3 1 1 record beside it, wait at least two "
    "TTLs, then switch the MTA to the new key and remove the old record"
)

#: Item states: ok (nothing to change), add, change, fix (published right, served wrong),
#: unknown (could not be compared: a lookup failed or the MX was not probed).
STATES = ("ok", "add", "change", "fix", "unknown")


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to publish: a DNS RRset or the policy file, beside what is published now."""

    kind: str  # tlsrpt | sts-record | sts-policy | tlsa
    name: str  # owner name (or the policy URL)
    rtype: str  # TXT | TLSA | policy
    state: str
    published: tuple[str, ...]  # values as found (None lookup: empty, state unknown)
    proposed: tuple[str, ...]  # values to publish (the policy: its lines)
    zone: tuple[str, ...] = ()  # zone-file lines ready to paste (empty for the policy file)
    differences: tuple[str, ...] = ()
    advice: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "type": self.rtype, "state": self.state,
            "published": list(self.published), "proposed": list(self.proposed),
            "zone": list(self.zone), "differences": list(self.differences),
            "advice": list(self.advice),
        }


@dataclass(frozen=True, slots=True)
class RecordSet:
    domain: str
    checked_at: str
    items: tuple[Item, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changes(self) -> int:
        return sum(1 for i in self.items if i.state != "ok")

    @property
    def policy_text(self) -> str:
        for item in self.items:
            if item.kind == "sts-policy" and item.proposed:
                return "".join(line + "\n" for line in item.proposed)
        return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain, "checked_at": self.checked_at, "changes": self.changes,
            "items": [i.to_json() for i in self.items], "notes": list(self.notes),
        }


# -- zone-file syntax --------------------------------------------------------------------------


def txt_rdata(text: str) -> str:
    """TXT data in zone-file syntax: quoted, escaped, split into strings of at most 255 bytes
    (senders join them without separators, so the split may fall anywhere)."""
    data = text.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + _escape(c) + '"' for c in chunks)


def _escape(chunk: bytes) -> str:
    out = []
    for b in chunk:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def zone_line(name: str, rtype: str, rdata: str, ttl: int | None = TTL) -> str:
    """One resource record in zone-file syntax (without a TTL for what is published now: the
    check does not record it)."""
    return f"{name}. {ttl} IN {rtype} {rdata}" if ttl is not None else f"{name}. IN {rtype} {rdata}"


def published_lines(item: Item) -> list[str]:
    """What is published now, in the same syntax as the proposal (the policy: its lines)."""
    if item.rtype == "TXT":
        return [zone_line(item.name, "TXT", txt_rdata(v), None) for v in item.published]
    if item.rtype == "TLSA":
        return [zone_line(item.name, "TLSA", v, None) for v in item.published]
    return list(item.published)


# -- the items ---------------------------------------------------------------------------------


def mx_hosts(domain: str, records: dict[str, Any]) -> list[str] | None:
    """The MX host names of a check, most preferred first ([domain] when it has no MX; []
    for a null MX; None when the lookup failed)."""
    mx = records.get("mx")
    if mx is None:
        return None
    pairs = []
    for entry in mx:
        parts = str(entry).split()
        if len(parts) == 2 and parts[0].isdigit():
            pairs.append((int(parts[0]), parts[1].rstrip(".").lower()))
    if not pairs:
        return [domain]
    if len(pairs) == 1 and pairs[0][1] == "":
        return []
    return list(dict.fromkeys(h for _, h in sorted(pairs) if h))


def tlsrpt_item(domain: str, records: dict[str, Any], rua: Sequence[str]) -> Item:
    name = f"_smtp._tls.{domain}"
    texts = records.get("tlsrpt")
    findings, record = tlsrpt_findings(domain, list(texts or []))
    current = list(record.rua) if record is not None else []
    wanted = list(rua) or current or [f"mailto:tlsrpt@{domain}"]
    proposed = f"v=TLSRPTv1; rua={','.join(wanted)}"
    published = tuple(t for t in texts or [] if t.lower().startswith("v=tlsrpt"))
    zone = (zone_line(name, "TXT", txt_rdata(proposed)),)
    if texts is None:
        return Item("tlsrpt", name, "TXT", "unknown", (), (proposed,), zone,
                    ("the lookup failed: could not compare",))
    diffs: list[str] = []
    if record is None:
        diffs += [_finding_line(f) for f in findings if f.severity.rank >= Severity.WARNING.rank]
    elif current != wanted:
        diffs.append(f"rua {', '.join(current)} → {', '.join(wanted)}")
    if record is not None and len(published) > 1:
        diffs.append("remove the other v=TLSRPTv1 records: with two, senders use none")
    state = "ok" if not diffs else ("add" if not published else "change")
    return Item("tlsrpt", name, "TXT", state, published, (proposed,), zone, tuple(diffs))


def policy_lines(mode: str, max_age: int, patterns: Sequence[str]) -> list[str]:
    return ["version: STSv1", f"mode: {mode}", *[f"mx: {p}" for p in patterns],
            f"max_age: {max_age}"]


def patterns_for(domain: str, hosts: Sequence[str], keep: Sequence[str] = ()) -> list[str]:
    """mx lines covering ``hosts``: the ``keep`` patterns that still match one, then for the rest
    ``*.parent`` where two or more hosts share a parent outside the domain (a provider's hosts:
    the pattern survives its renaming them), else each host by name."""
    kept = [p for p in keep if any(mx_matches(p, h) for h in hosts)]
    rest = [h for h in hosts if not any(mx_matches(p, h) for p in kept)]
    by_parent: dict[str, list[str]] = {}
    for host in rest:
        parent = host.partition(".")[2]
        by_parent.setdefault(parent, []).append(host)
    out = list(kept)
    for host in rest:
        parent = host.partition(".")[2]
        group = by_parent[parent]
        outside = parent != domain and not parent.endswith("." + domain)
        if len(group) >= 2 and outside and parent.count(".") >= 1:
            pattern = f"*.{parent}"
            if pattern not in out:
                out.append(pattern)
        else:
            out.append(host)
    return out


def sts_items(
    domain: str, records: dict[str, Any], findings: Sequence[Finding], mode: str | None,
    new_id: str,
) -> list[Item]:
    """The ``_mta-sts`` TXT and the policy file (the id changes only when the policy does)."""
    hosts = mx_hosts(domain, records)
    url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    body = records.get("policy")
    published = parse_policy(body, url) if isinstance(body, str) else None
    valid = published if published is not None and published.valid else None
    if hosts is None:
        note = "the MX lookup failed: the policy cannot be built"
        return [Item("sts-policy", url, "policy", "unknown", _lines(body), (), (), (note,))]
    want_mode = mode or (valid.mode if valid and valid.mode in ("testing", "enforce")
                         else "testing")
    max_age = valid.max_age if valid and valid.max_age else 0
    if max_age < ONE_DAY:
        max_age = ONE_DAY if want_mode == "testing" else ONE_WEEK
    elif want_mode == "enforce" and max_age < ONE_WEEK:
        max_age = ONE_WEEK
    patterns = patterns_for(domain, hosts, valid.mx if valid else ())
    lines = policy_lines(want_mode, max_age, patterns)
    policy_changes: list[str] = []
    if valid is None:
        policy_changes.append("no valid policy is served" if body is None
                              else "the served policy is invalid")
    else:
        if valid.mode != want_mode:
            policy_changes.append(f"mode {valid.mode} → {want_mode}")
        if valid.max_age != max_age:
            policy_changes.append(f"max_age {valid.max_age} → {max_age}")
        added = [p for p in patterns if p not in valid.mx]
        dropped = [p for p in valid.mx if p not in patterns]
        if added:
            policy_changes.append(f"mx added: {', '.join(added)} (not covered now)")
        if dropped:
            policy_changes.append(f"mx dropped: {', '.join(dropped)} (matches no MX)")
    serving = [
        _finding_line(f) for f in findings
        if f.code in ("sts.policy.fetch-error", "sts.policy.redirect", "sts.policy.webpki",
                      "sts.policy.too-large", "sts.policy.content-type")
    ]
    if not records.get("policy_addresses") and records.get("sts_id") is not None:
        serving.append(f"mta-sts.{domain} has no address: point it at a web server")
    advice = [MAX_AGE_ADVICE]
    if policy_changes:
        state = "add" if body is None else "change"
    elif serving:
        state = "fix"
    else:
        state = "ok"
    if state != "ok":
        advice.append(f"serve it as text/plain with HTTP 200 and no redirect from the web server "
                      f"mta-sts.{domain} points to (A/AAAA or CNAME), with a certificate valid "
                      "for that name")
    policy_item = Item("sts-policy", url, "policy", state, _lines(body), tuple(lines), (),
                       tuple(policy_changes + serving), tuple(advice))

    name = f"_mta-sts.{domain}"
    texts = records.get("sts")
    if texts is None:
        published_txt: tuple[str, ...] = ()
        current_id = None
    else:
        published_txt = tuple(t for t in texts if t.lower().startswith("v=sts"))
        _, record = sts_record_findings(domain, list(texts))
        current_id = record.id if record is not None else None
    keep_id = current_id is not None and not policy_changes
    record_text = f"v=STSv1; id={current_id if keep_id else new_id}"
    diffs: list[str] = []
    if texts is None:
        state = "unknown"
        diffs.append("the lookup failed: could not compare")
    elif current_id is None:
        state = "add" if not published_txt else "change"
        diffs.append("no valid v=STSv1 record" if not published_txt
                     else "the published record is not valid")
    elif not keep_id:
        state = "change"
        diffs.append(f"id {current_id} → {new_id}: the policy changes, so senders must refetch")
    else:
        state = "ok"
    if len(published_txt) > 1 and state != "unknown":
        state = "change"
        diffs.append("remove the other v=STSv1 records: with two, senders use none")
    order = () if state == "ok" else (
        "publish the policy file first, then this record: the id tells senders to fetch it",)
    sts_item = Item("sts-record", name, "TXT", state, published_txt, (record_text,),
                    (zone_line(name, "TXT", txt_rdata(record_text)),), tuple(diffs), order)
    return [sts_item, policy_item]


def tlsa_items(domain: str, records: dict[str, Any]) -> list[Item]:
    """``3 1 1`` (DANE-EE, public key, SHA-256) of the key each MX serves, beside its TLSA."""
    hosts = mx_hosts(domain, records) or []
    probes = records.get("probe") or {}
    tlsa = records.get("tlsa") or {}
    out = []
    for host in hosts:
        name = f"_25._tcp.{host}"
        found = tlsa.get(host) or {}
        published = tuple(found.get("records") or ())
        dstate = found.get("state")
        digests = sorted({p.get("spki_sha256") for p in (probes.get(host) or {}).values()
                          if p.get("spki_sha256")})
        proposed = tuple(f"3 1 1 {d}" for d in digests)
        zone = tuple(zone_line(name, "TLSA", r) for r in proposed)
        advice = [ROLLOVER_ADVICE] if len(published) < 2 else []
        if host != domain and not host.endswith("." + domain):
            advice.append(f"{host} is outside {domain}: its TLSA belongs in the zone that holds "
                          "it (ask its operator if it is not yours)")
        if not digests:
            why = ("not probed" if host not in probes
                   else "no certificate was seen on STARTTLS")
            out.append(Item("tlsa", name, "TLSA", "unknown", published, (), (),
                            (f"{host}: {why}: its key is unknown",), tuple(advice)))
            continue
        have = {r.lower() for r in published}
        missing = [r for r in proposed if r.lower() not in have]
        diffs = [f"add {r} (the key {host} serves now)" for r in missing]
        if published and missing:
            diffs.append("no published record matches the served key: DANE senders defer "
                         "mail; keep the others only if they are your next key")
        if dstate == "insecure":
            diffs.append("the TLSA answer is not DNSSEC-signed: senders ignore it; sign the zone")
        elif dstate in ("bogus", "failed"):
            diffs.append(f"the TLSA lookup ended {dstate}: fix DNSSEC before relying on DANE")
        if not published:
            advice.append("DANE needs a DNSSEC-signed zone for the MX host and its TLSA record")
        state = "ok" if not diffs else ("add" if not published else "change")
        out.append(Item("tlsa", name, "TLSA", state, published, proposed, zone, tuple(diffs),
                        tuple(advice)))
    return out


def build(
    domain: str,
    checked_at: str,
    records: dict[str, Any],
    findings: Sequence[Finding] = (),
    *,
    rua: Sequence[str] = (),
    mode: str | None = None,
    new_id: str,
) -> RecordSet:
    """Every record ``domain`` needs, from one live check's ``records`` and findings."""
    bad = [reason for reason in (valid_uri(u) for u in rua) if reason]
    if bad:
        raise ValueError(bad[0])
    if mode not in (None, "testing", "enforce"):
        raise ValueError(f"{mode!r}: mode must be testing or enforce")
    notes: list[str] = []
    hosts = mx_hosts(domain, records)
    items = [tlsrpt_item(domain, records, rua)]
    if hosts == []:
        notes.append(f"{domain} has a null MX: it takes no mail, so MTA-STS and TLSA do not "
                     "apply")
    else:
        items += sts_items(domain, records, findings, mode, new_id)
        items += tlsa_items(domain, records)
    if records.get("mx") == []:
        notes.append(f"{domain} has no MX: senders use its own address, checked as its MX")
    return RecordSet(domain, checked_at, tuple(items), tuple(notes))


def _lines(body: object) -> tuple[str, ...]:
    if not isinstance(body, str):
        return ()
    return tuple(line.rstrip("\r") for line in body.split("\n") if line.strip())


def _finding_line(f: Finding) -> str:
    return f"{f.code}: {f.message}"


# -- as text (the CLI and the TUI's records screen) --------------------------------------------

_TITLES = {"tlsrpt": "TLS-RPT record", "sts-record": "MTA-STS record",
           "sts-policy": "MTA-STS policy file", "tlsa": "TLSA (DANE)"}
_STATE_WORDS = {"ok": "nothing to change", "add": "add", "change": "change",
                "fix": "fix how it is served", "unknown": "could not compare"}


def describe(rs: RecordSet) -> list[tuple[str, str]]:
    """(kind, line) pairs: head, item, label, value, zone, policy, diff, advice, note, verdict.
    Values are untrusted (DNS data, the served policy): the front escapes them."""
    out = [("head", f"{rs.domain}  (checked {rs.checked_at}; nothing is written anywhere)")]
    for item in rs.items:
        out.append(("blank", ""))
        out.append(("item", f"{_TITLES[item.kind]}  {item.name}: {_STATE_WORDS[item.state]}"))
        policy = item.kind == "sts-policy"
        if item.state != "ok":  # what is there now, then what to publish instead
            where = "served now" if policy else "published now"
            out.append(("label", f"  {where}:" if item.published else f"  {where}: nothing"))
            out += [("value", f"    {v}") for v in published_lines(item)]
        if policy and item.proposed:
            out.append(("label", "  serve this file:" if item.state != "ok" else "  served:"))
            out += [("policy", f"    {line}") for line in item.proposed]
        elif item.zone:
            out.append(("label", "  zone file:" if item.state != "ok"
                        else "  zone file (as published):"))
            out += [("zone", f"    {line}") for line in item.zone]
        out += [("diff", f"  differs: {d}") for d in item.differences]
        out += [("advice", f"  advice: {a}") for a in item.advice]
    if rs.notes:
        out.append(("blank", ""))
        out += [("note", f"note: {n}") for n in rs.notes]
    out.append(("blank", ""))
    if rs.changes:
        out.append(("verdict", f"{rs.changes} item{'s' if rs.changes != 1 else ''} to change"))
    else:
        out.append(("verdict", "nothing to change"))
    return out
