"""Every finding code of the live checks with its severity, message, hint and result-type.

One table serves the checks (to build findings), the CLI and the TUI (to explain them), and the
failure screen (``RESULT_TYPES``: what an RFC 8460 result-type means and what to fix), so the
wording of a finding is defined once. Codes and severities follow ../shared/spec/checks.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tlsrpt_tui.core.findings import Finding, Severity

OK, INFO, WARNING, ERROR = Severity.OK, Severity.INFO, Severity.WARNING, Severity.ERROR


@dataclass(frozen=True, slots=True)
class CheckInfo:
    severity: Severity
    message: str
    hint: str = ""
    result_type: str | None = None


_LOOKUP_HINT = (
    "could not check: the DNS lookup failed; retry, or check the resolver and the zone's "
    "name servers"
)

CATALOGUE: dict[str, CheckInfo] = {
    # TLS-RPT record (RFC 8460 §3)
    "tlsrpt.ok": CheckInfo(OK, "one valid TLS-RPT record"),
    "tlsrpt.missing": CheckInfo(
        WARNING,
        "no TLS-RPT record: no sender will send reports",
        'publish TXT "v=TLSRPTv1; rua=mailto:tlsrpt@<domain>" at _smtp._tls.<domain>',
    ),
    "tlsrpt.multiple": CheckInfo(
        ERROR,
        "more than one v=TLSRPTv1 record: senders act as if there were none",
        "keep exactly one v=TLSRPTv1 TXT record at _smtp._tls.<domain>",
    ),
    "tlsrpt.syntax": CheckInfo(
        ERROR,
        "the TLS-RPT record has a syntax error",
        'start with "v=TLSRPTv1;" and write fields as name=value separated by ";"',
    ),
    "tlsrpt.no-rua": CheckInfo(
        ERROR,
        "the TLS-RPT record has no rua",
        "add rua=mailto:ADDRESS or rua=https://URL",
    ),
    "tlsrpt.bad-uri": CheckInfo(
        ERROR,
        "a rua URI is not a valid mailto: or https: URI",
        "use mailto:user@domain or https://host/path; DMARC size suffixes like !10m are invalid",
    ),
    "tlsrpt.many-rua": CheckInfo(
        INFO,
        "more than one rua URI: some senders deliver to the first only",
        "put the address you read first",
    ),
    "tlsrpt.unrelated-txt": CheckInfo(
        INFO, "other TXT records at _smtp._tls are ignored", "remove them to avoid confusion"
    ),
    "tlsrpt.lookup-failed": CheckInfo(ERROR, "could not check the TLS-RPT record", _LOOKUP_HINT),
    # MTA-STS record (RFC 8461 §3.1)
    "sts.record.ok": CheckInfo(OK, "one valid MTA-STS record"),
    "sts.record.missing": CheckInfo(
        INFO,
        "no MTA-STS record",
        'publish TXT "v=STSv1; id=YYYYMMDDNN" at _mta-sts.<domain> and serve a policy',
    ),
    "sts.record.multiple": CheckInfo(
        ERROR,
        "more than one v=STSv1 record: no policy applies",
        "keep exactly one v=STSv1 TXT record at _mta-sts.<domain>",
    ),
    "sts.record.syntax": CheckInfo(
        ERROR,
        "the MTA-STS record has a syntax error",
        'start with "v=STSv1;" and write fields as name=value separated by ";"',
    ),
    "sts.record.bad-id": CheckInfo(
        ERROR,
        "the MTA-STS id is missing or not 1-32 letters/digits",
        "set id= to 1-32 letters and digits, e.g. a date stamp 2026112801",
    ),
    "sts.record.lookup-failed": CheckInfo(
        ERROR, "could not check the MTA-STS record", _LOOKUP_HINT
    ),
    # MTA-STS policy (RFC 8461 §3.2-3.3, §4)
    "sts.policy.ok": CheckInfo(OK, "MTA-STS policy fetched and valid"),
    "sts.policy.fetch-error": CheckInfo(
        ERROR,
        "the MTA-STS policy could not be fetched",
        "serve https://mta-sts.<domain>/.well-known/mta-sts.txt with HTTP 200",
        "sts-policy-fetch-error",
    ),
    "sts.policy.redirect": CheckInfo(
        ERROR,
        "the policy URL redirects: redirects must not be followed",
        "serve the policy directly with HTTP 200, no redirect",
        "sts-policy-fetch-error",
    ),
    "sts.policy.webpki": CheckInfo(
        ERROR,
        "the policy host's HTTPS certificate failed validation",
        "give mta-sts.<domain> a trusted, unexpired certificate that names it",
        "sts-webpki-invalid",
    ),
    "sts.policy.too-large": CheckInfo(
        ERROR,
        "the policy is larger than 64 KiB",
        "keep the policy file small: version, mode, max_age and the mx lines",
        "sts-policy-fetch-error",
    ),
    "sts.policy.expiring-soon": CheckInfo(
        WARNING,
        "the policy host's HTTPS certificate expires in fewer than 14 days",
        "renew the certificate of mta-sts.<domain> now (senders stop fetching the policy once "
        "it has expired)",
    ),
    "sts.policy.content-type": CheckInfo(
        WARNING,
        "the policy is not served as text/plain",
        "serve mta-sts.txt with Content-Type: text/plain",
    ),
    "sts.policy.invalid": CheckInfo(
        ERROR,
        "the MTA-STS policy is not valid",
        "fix the syntax (version, mode, max_age, one mx per line), then change the TXT id",
        "sts-policy-invalid",
    ),
    "sts.policy.mx-pattern": CheckInfo(
        ERROR,
        "an mx line is not a host name or *.host name",
        "write each mx as a host name (mx1.example.com) or a wildcard *.example.com",
        "sts-policy-invalid",
    ),
    "sts.policy.testing": CheckInfo(
        INFO,
        "the policy is in testing mode: failures are reported, mail is still delivered",
        "switch to mode: enforce once reports show no failures",
    ),
    "sts.policy.none": CheckInfo(
        WARNING,
        "the policy has mode: none: MTA-STS is withdrawn",
        "publish mode: testing or enforce, or remove the MTA-STS record after max_age",
    ),
    "sts.policy.max-age-low": CheckInfo(
        WARNING,
        "max_age is under one day",
        "use a max_age of at least 86400, one to several weeks once stable",
    ),
    "sts.policy.mx-uncovered": CheckInfo(
        ERROR,
        "an MX host matches no mx pattern of the policy",
        "add the MX host (or a *.parent wildcard) to the policy's mx lines and change the TXT id",
        "validation-failure",
    ),
    "sts.policy.stale-pattern": CheckInfo(
        INFO, "a policy mx pattern matches no current MX", "remove patterns you no longer use"
    ),
    "sts.policy.id-unchanged": CheckInfo(
        WARNING,
        "the policy changed since the last check but the TXT id did not",
        "change the id in _mta-sts.<domain> whenever the policy changes, or senders keep "
        "the old policy",
    ),
    # MX (RFC 5321, RFC 7505)
    "mx.ok": CheckInfo(OK, "MX hosts resolve"),
    "mx.none": CheckInfo(
        WARNING,
        "no MX record: the domain itself is the implicit MX",
        "publish MX records for the hosts that receive mail",
    ),
    "mx.null": CheckInfo(INFO, "null MX (0 .): the domain accepts no mail"),
    "mx.no-address": CheckInfo(
        ERROR, "an MX host has no A/AAAA address", "give every MX host an A and/or AAAA record"
    ),
    "mx.cname": CheckInfo(
        WARNING,
        "an MX target is a CNAME",
        "point MX records at the canonical host name, not an alias (RFC 5321 §5.1)",
    ),
    "mx.lookup-failed": CheckInfo(ERROR, "could not check the MX records", _LOOKUP_HINT),
    # DNS resolver
    "dns.resolver-not-validating": CheckInfo(
        WARNING,
        "the DNS resolver does not validate DNSSEC (signed answers come without the AD bit): "
        "DANE verdicts are unknown through it",
        "set [checks] resolver (or --resolver) to a validating resolver, e.g. a local Unbound",
    ),
    "dns.nxdomain": CheckInfo(
        ERROR,
        "the domain does not exist (NXDOMAIN): nothing else was checked",
        "check the spelling of the domain (a typo in the config is the usual cause)",
    ),
    # DANE (RFC 6698, 7671, 7672)
    "dane.ok": CheckInfo(
        OK, "DANE applies (MX, address and TLSA records secure) and a TLSA record matches"
    ),
    "dane.none": CheckInfo(INFO, "no TLSA records: DANE is not used for this MX"),
    "dane.insecure": CheckInfo(
        INFO,
        "TLSA records exist but the answer is not DNSSEC-secure: senders ignore them",
        "sign the zone (and publish the DS in the parent) so DANE takes effect",
    ),
    "dane.mx-insecure": CheckInfo(
        INFO,
        "the MX records (or a CNAME leading to them) are not DNSSEC-secure: senders never use "
        "DANE for this domain",
        "sign the zone holding the MX records and publish its DS in the parent zone",
    ),
    "dane.address-insecure": CheckInfo(
        INFO,
        "the MX host's A/AAAA records (or a CNAME on the way) are not DNSSEC-secure: senders "
        "do not use DANE for this host",
        "sign the zone holding the host's address records (and publish its DS), or point the "
        "MX at a host in a signed zone",
    ),
    "dane.bogus": CheckInfo(
        ERROR,
        "the TLSA lookup is DNSSEC-bogus (SERVFAIL) under secure addresses: DANE senders defer "
        "mail",
        "fix the DNSSEC chain (DS, DNSKEY, RRSIG expiry, denial proofs)",
        "dnssec-invalid",
    ),
    "dane.lookup-failed": CheckInfo(ERROR, "could not check the TLSA records", _LOOKUP_HINT),
    "dane.unusable": CheckInfo(
        ERROR,
        "the TLSA RRset has no usable record",
        "publish a DANE-EE (3 1 1) or DANE-TA (2 x x) record with a correct digest",
        "tlsa-invalid",
    ),
    "dane.pkix-usage": CheckInfo(
        WARNING,
        "TLSA usage 0 or 1 records are present: they are not used for SMTP",
        "use usage 3 (DANE-EE) or 2 (DANE-TA)",
    ),
    "dane.mismatch": CheckInfo(
        ERROR,
        "the certificate the MX presents matches no TLSA record",
        "republish TLSA from the certificate actually served; keep current and next during "
        "rollovers",
        "tlsa-invalid",
    ),
    "dane.no-rollover": CheckInfo(
        INFO,
        "a single DANE-EE record: no room for a key rollover",
        "publish the next key's 3 1 1 record alongside the current one before rolling",
    ),
    # STARTTLS probe
    "tls.ok": CheckInfo(OK, "STARTTLS with a valid certificate"),
    "tls.unreachable": CheckInfo(
        ERROR,
        "cannot connect to the MX or it sent no greeting",
        "check the MX is up; outbound port 25 is often blocked where this runs "
        "(set smtp_port or run elsewhere)",
    ),
    "tls.probe-blocked": CheckInfo(
        WARNING,
        "no MX of any checked domain accepts a connection on port 25 from this host: outbound "
        "port 25 is probably blocked here; STARTTLS and DANE matches were not checked",
        "run the checks from a host that may connect out to port 25 (many cloud hosts and "
        "home networks block it), or use --no-probe",
    ),
    "tls.no-starttls": CheckInfo(
        ERROR,
        "the MX does not offer STARTTLS",
        "enable STARTTLS on every MX address; look for middleboxes that strip it",
        "starttls-not-supported",
    ),
    "tls.handshake-failed": CheckInfo(
        ERROR, "the TLS handshake failed", "check the MTA's TLS configuration", "validation-failure"
    ),
    "tls.old-version": CheckInfo(
        WARNING, "TLS below 1.2 was negotiated", "enable TLS 1.2 and 1.3", "validation-failure"
    ),
    "tls.expired": CheckInfo(
        ERROR,
        "the MX certificate is expired or not yet valid",
        "renew it, fix automatic renewal, reload the MTA",
        "certificate-expired",
    ),
    "tls.expiring-soon": CheckInfo(
        WARNING, "the MX certificate expires in fewer than 14 days", "renew it now"
    ),
    "tls.untrusted": CheckInfo(
        ERROR,
        "the MX certificate chain does not verify to a trusted root",
        "use a publicly trusted CA and send the full chain",
        "certificate-not-trusted",
    ),
    "tls.host-mismatch": CheckInfo(
        ERROR,
        "the MX host name is not in the certificate's SAN",
        "put each MX host name in the certificate's subjectAltName",
        "certificate-host-mismatch",
    ),
}

#: Findings about the host running the checks (its resolver, its outbound port 25), not about
#: a domain: each domain's result carries them (its verdicts depend on them), the fronts show
#: them once per run, above the domains.
HOST_CODES = frozenset({"dns.resolver-not-validating", "tls.probe-blocked"})

#: Per-host items that got no verdict because of this host: (records key, field, value) of a
#: result → (item label, what to say). They have no finding of their own (the host finding
#: says why, once); the fronts show them as "unknown" / "not checked".
_NO_VERDICT = {
    ("tlsa", "state", "unknown"): ("DANE", "unknown: the resolver does not validate"),
    ("tlsa", "match", "not checked"): ("DANE", "match not checked: port 25 blocked here"),
    ("starttls", "state", "not checked"): ("STARTTLS", "not checked: port 25 blocked here"),
}


def no_verdict_items(records: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(label, host, words) for each per-host item of a result's records without a verdict."""
    out = []
    for (key, name, value), (label, words) in _NO_VERDICT.items():
        per_host = (records or {}).get(key)
        if not isinstance(per_host, dict):
            continue
        for host, item in per_host.items():
            if isinstance(item, dict) and item.get(name) == value:
                out.append((label, str(host), words))
    return out

#: RFC 8460 result-type → (meaning, what to fix); the failure screen explains reports with it.
RESULT_TYPES: dict[str, tuple[str, str]] = {
    "starttls-not-supported": (
        "the MX did not offer STARTTLS",
        "enable STARTTLS on every MX address (IPv4 and IPv6); look for middleboxes that strip it",
    ),
    "certificate-host-mismatch": (
        "the certificate does not cover the MX name",
        "put each MX host name in the certificate's SAN; make sure each MX matches an `mx` "
        "line of the policy",
    ),
    "certificate-expired": (
        "the certificate is past notAfter",
        "renew it, fix automatic renewal, reload the MTA; update TLSA first when pinning the "
        "certificate",
    ),
    "certificate-not-trusted": (
        "unknown CA, incomplete chain",
        "use a publicly trusted CA and send the full chain; self-signed only works with DANE-EE",
    ),
    "validation-failure": (
        "other failure, see failure-reason-code",
        "read the reason code: handshake failure, old TLS, MX not in policy",
    ),
    "tlsa-invalid": (
        "no TLSA record matched the presented chain",
        "republish TLSA from the certificate actually served; keep current and next during "
        "rollovers",
    ),
    "dnssec-invalid": (
        "no valid DNSSEC answer for the DANE lookups",
        "fix the DNSSEC chain (DS, DNSKEY, RRSIG expiry, denial proofs); test with a validating "
        "resolver",
    ),
    "dane-required": (
        "the sender requires DANE and found no valid TLSA",
        "publish signed TLSA records for every MX",
    ),
    "sts-policy-fetch-error": (
        "the policy could not be fetched",
        "serve the file with HTTP 200, no redirect, from a host reachable worldwide",
    ),
    "sts-policy-invalid": (
        "the policy is not valid",
        "fix the syntax (version, mode, max_age, one mx per line), then change the TXT id",
    ),
    "sts-webpki-invalid": (
        "the policy host's HTTPS certificate failed validation",
        "give `mta-sts.<domain>` a trusted, unexpired certificate that names it",
    ),
}


#: Longest detail a finding carries; the rest of an absurdly long one is counted, not shown.
MAX_DETAIL = 1000


def finding(
    code: str,
    subject: str,
    detail: str | None = None,
    *,
    severity: Severity | None = None,
    result_type: str | bool | None = True,
) -> Finding:
    """Build the finding for ``code``; ``detail`` is appended to the default message.

    ``severity`` overrides the catalogue's (e.g. mx-uncovered is a warning in testing mode);
    ``result_type=None`` drops the result-type when the override makes it moot.
    """
    info = CATALOGUE[code]
    if detail and len(detail) > MAX_DETAIL:  # a 100k-line policy must not make a 1.5 MB line
        detail = f"{detail[:MAX_DETAIL]}… ({len(detail) - MAX_DETAIL} more characters)"
    message = info.message if not detail else f"{info.message}: {detail}"
    rt = info.result_type if result_type is True else (result_type or None)
    return Finding(
        code=code,
        severity=severity if severity is not None else info.severity,
        subject=subject,
        message=message,
        hint=info.hint,
        result_type=rt,
    )


def worst(findings: list[Finding]) -> Severity:
    """The worst severity among findings (ok when there are none)."""
    return max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.OK)
