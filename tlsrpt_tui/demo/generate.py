"""Synthetic TLS-RPT mail for the demo and the UI tests, written from scratch.

The demo must look like a real inbox without shipping anyone's real reports: three senders in
the styles real ones use (a Google-like one with mx-host lists and ISO report-ids, a
Microsoft-like one with FILETIME report-ids and no ``mx-host``, a self-hosted Postfix/Stalwart-
like one with ``contact-info: null``), several domains, 60 days of healthy traffic with a
failure streak, one message that claims to be a report but cannot be read, and one forged
"Google" report claiming thousands of failures whose DKIM signature does not match. Everything is
deterministic for a given end date so snapshots and tests stay stable.

The signatures are not real and the demo does no DNS: each mail carries the verdict a check on
arrival would have stored (pass for the big senders, none for the unsigned relay, fail for the
forgery), so the inbox's signature column and the report screen show all three.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from tlsrpt_tui.core.model import DkimVerdict, Origin, RawInput

DEMO_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org")
DEMO_DAYS = 60

#: Days (counted back from the end date, 0 = the last day) on which example.net's second MX
#: served an expired certificate: the failure streak the demo tells a story about.
FAILURE_STREAK = range(0, 8)
#: Days on which example.org (MTA-STS in testing mode) served a certificate that did not name
#: mail.example.org: fixed since the first of them (its readiness screen says "ready, fixed
#: since ..."), the stored check history shows the failing and the fixed check.
MISMATCH_DAYS = range(9, 14)

_MX = {
    "example.com": ("mx1.example.com", "mx2.example.com"),
    "example.net": ("mx1.example.net", "mx2.example.net"),
    "example.org": ("mail.example.org",),
}
MX_IP = {
    "mx1.example.com": "192.0.2.10",
    "mx2.example.com": "192.0.2.11",
    "mx1.example.net": "198.51.100.20",
    "mx2.example.net": "198.51.100.21",
    "mail.example.org": "203.0.113.30",
}


@dataclass(frozen=True, slots=True)
class Sender:
    key: str
    organization: str
    contact: str | None
    submitter: str
    mail_from: str


SENDERS: tuple[Sender, ...] = (
    Sender("google", "Google Inc.", "smtp-tls-reporting@google.example", "google.example",
           "noreply-smtp-tls-reporting@google.example"),
    Sender("microsoft", "Microsoft Corporation", "tlsrpt-noreply@microsoft.example",
           "microsoft.example", "tlsrpt-noreply@microsoft.example"),
    Sender("selfhosted", "mx.relay.example", None, "mx.relay.example",
           "postmaster@mx.relay.example"),
)


def _filetime(moment: datetime) -> int:
    """Windows FILETIME (100 ns ticks since 1601-01-01), as Microsoft's report-ids carry."""
    epoch = datetime(1601, 1, 1, tzinfo=UTC)
    return int((moment - epoch).total_seconds() * 10_000_000)


def _sts_policy(domain: str, sender: Sender, ok: int, failures: list[dict]) -> dict:
    mxs = _MX[domain]
    policy: dict = {
        "policy-type": "sts",
        "policy-string": ["version: STSv1",
                          f"mode: {'testing' if domain == 'example.org' else 'enforce'}",
                          *[f"mx: {m}" for m in mxs],
                          "max_age: 604800"],
        "policy-domain": domain,
    }
    if sender.key == "google":
        policy["mx-host"] = list(mxs)
    elif sender.key == "selfhosted":
        policy["mx-host"] = mxs[0]
    return {
        "policy": policy,
        "summary": {
            "total-successful-session-count": ok,
            "total-failure-session-count": sum(f["failed-session-count"] for f in failures),
        },
        **({"failure-details": failures} if failures or sender.key == "selfhosted" else {}),
    }


def _tlsa_policy(domain: str, sender: Sender, ok: int) -> dict:
    records = [f"3 1 1 {hashlib.sha256(f'{domain}/{i}'.encode()).hexdigest()}" for i in range(2)]
    strings = [json.dumps(records)] if sender.key == "microsoft" else records
    return {
        "policy": {"policy-type": "tlsa", "policy-string": strings, "policy-domain": domain},
        "summary": {"total-successful-session-count": ok, "total-failure-session-count": 0},
    }


def report_json(sender: Sender, domain: str, day: date, days_back: int, rng: random.Random) -> dict:
    """One day's report from one sender about one domain."""
    start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    end = start + timedelta(days=1) - timedelta(seconds=1)
    volume = {"google": 40, "microsoft": 25, "selfhosted": 6}[sender.key]
    ok = max(1, int(volume * rng.uniform(0.6, 1.4)))
    failures: list[dict] = []
    if domain == "example.net" and days_back in FAILURE_STREAK and sender.key != "selfhosted":
        failures.append({
            "result-type": "certificate-expired",
            "sending-mta-ip": "209.85.220.41" if sender.key == "google" else "40.107.22.51",
            "receiving-mx-hostname": "mx2.example.net",
            "receiving-ip": MX_IP["mx2.example.net"],
            "failed-session-count": rng.randint(3, 12),
            "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED",
        })
    if domain == "example.org" and days_back in MISMATCH_DAYS and sender.key != "selfhosted":
        failures.append({  # counts without the rng, so the other days' figures stay the same
            "result-type": "certificate-host-mismatch",
            "sending-mta-ip": "209.85.220.41" if sender.key == "google" else "40.107.22.51",
            "receiving-mx-hostname": "mail.example.org",
            "receiving-ip": MX_IP["mail.example.org"],
            "failed-session-count": 2 + days_back % 4 + (3 if sender.key == "google" else 0),
        })
    if domain == "example.com" and days_back in (20, 21) and sender.key == "google":
        failures.append({
            "result-type": "validation-failure",
            "sending-mta-ip": "209.85.220.41",
            "receiving-mx-hostname": "mx2.example.com",
            "receiving-mx-helo": "mx2.example.com",
            "receiving-ip": MX_IP["mx2.example.com"],
            "failed-session-count": 2,
            "failure-reason-code": "mx host not in MTA-STS policy",
            "additional-information": "https://support.google.example/mta-sts",
        })
    policies = [_sts_policy(domain, sender, ok, failures)]
    if sender.key == "microsoft" and domain == "example.org":
        policies.append(_tlsa_policy(domain, sender, max(1, ok // 3)))
    if sender.key == "google":
        report_id = f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}_{domain}"
    elif sender.key == "microsoft":
        made = start + timedelta(days=1, hours=3, minutes=rng.randint(0, 59))
        report_id = f"{_filetime(made)}+{domain}"
    else:
        report_id = f"{day.isoformat()}.{domain}.{rng.randrange(16**8):08x}@mx.relay.example"
    return {
        "organization-name": sender.organization,
        "date-range": {
            "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end-datetime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "contact-info": sender.contact,
        "report-id": report_id,
        "policies": policies,
    }


def report_mail(sender: Sender, domain: str, report: dict, *, payload: bytes | None = None,
                sent: datetime) -> bytes:
    """Wrap a report in the multipart/report mail RFC 8460 §5.3 describes."""
    start = datetime.fromisoformat(report["date-range"]["start-datetime"])
    end = datetime.fromisoformat(report["date-range"]["end-datetime"])
    msg = EmailMessage()
    if sender.key != "selfhosted":  # the self-hosted relay signs nothing: its reports get a note
        msg["DKIM-Signature"] = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender.submitter};"
                                 " s=demo; bh=ZGVtbw==; b=ZGVtbw==")
    msg["From"] = sender.mail_from
    msg["To"] = f"tlsrpt@{domain}"
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = make_msgid(domain=sender.submitter, idstring=report["report-id"][:20])
    subject_id = report["report-id"]
    if sender.key == "google":  # Google's Subject id differs from the JSON one (the JSON wins)
        subject_id = f"{start.strftime('%Y.%m.%dT%H.%M.%SZ')}+{domain}@{sender.submitter}"
    msg["Subject"] = (f"Report Domain: {domain} Submitter: {sender.submitter} "
                      f"Report-ID: <{subject_id}>")
    msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = sender.submitter
    msg.set_content(f"This is an aggregate TLS report from {sender.organization}.\n")
    data = payload if payload is not None else gzip.compress(
        json.dumps(report, indent=None).encode(), mtime=0
    )
    filename = (f"{sender.submitter}!{domain}!{int(start.timestamp())}!"
                f"{int(end.timestamp())}.json.gz")
    msg.add_attachment(data, maintype="application", subtype="tlsrpt+gzip", filename=filename)
    msg.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"')
    return msg.as_bytes()


def demo_inputs(end: date | None = None, days: int = DEMO_DAYS) -> list[RawInput]:
    """All demo mails, oldest first, ending on `end` (default: yesterday, UTC)."""
    if end is None:
        end = datetime.now(UTC).date() - timedelta(days=1)
    rng = random.Random(8460)
    inputs: list[RawInput] = []
    uid = 0
    for back in range(days - 1, -1, -1):
        day = end - timedelta(days=back)
        for domain in DEMO_DOMAINS:
            for sender in SENDERS:
                if sender.key == "selfhosted" and domain != "example.com":
                    continue
                report = report_json(sender, domain, day, back, rng)
                sent = datetime.combine(day + timedelta(days=1), time(6, 30), tzinfo=UTC)
                uid += 1
                inputs.append(_raw(report_mail(sender, domain, report, sent=sent), uid,
                                   _verdict(sender)))
    uid += 1
    inputs.append(forged_input(end, uid))
    # A message that claims to be a TLS-RPT report but whose attachment is not gzip or JSON.
    broken_sender = SENDERS[2]
    broken = report_json(broken_sender, "example.com", end, 0, rng)
    uid += 1
    inputs.append(_raw(report_mail(
        broken_sender, "example.com", broken, payload=b"\x1f\x8b\x08\x00truncated-gzip",
        sent=datetime.combine(end + timedelta(days=1), time(7, 0), tzinfo=UTC),
    ), uid))
    return inputs


#: The forged report's id (tests and the README name it).
FORGED_REPORT_ID = "forged-certificate-storm_example.com"


def forged_input(end: date, uid: int) -> RawInput:
    """Anyone can mail the rua address: a "Google" report of 9,000 expired-certificate failures,
    signed ``d=google.example`` but altered after signing, so its DKIM check fails."""
    sender = SENDERS[0]
    report = report_json(sender, "example.com", end - timedelta(days=1), 99, random.Random(12))
    report["report-id"] = FORGED_REPORT_ID
    report["policies"][0]["summary"]["total-failure-session-count"] = 9000
    report["policies"][0]["failure-details"] = [{
        "result-type": "certificate-expired",
        "sending-mta-ip": "203.0.113.66",
        "receiving-mx-hostname": "mx1.example.com",
        "failed-session-count": 9000,
    }]
    sent = datetime.combine(end, time(6, 45), tzinfo=UTC)
    verdict = DkimVerdict("fail", sender.submitter, "demo", aligned=True)
    return _raw(report_mail(sender, "example.com", report, sent=sent), uid, verdict)


def _verdict(sender: Sender) -> DkimVerdict:
    if sender.key == "selfhosted":
        return DkimVerdict("none")
    return DkimVerdict("pass", sender.submitter, "demo", aligned=True)


def _raw(data: bytes, uid: int, dkim: DkimVerdict | None = None) -> RawInput:
    origin = Origin(kind="imap", account="demo", folder="INBOX", uidvalidity=1, uid=uid)
    return RawInput(source=f"demo:INBOX/{uid}", data=data, origin=origin, dkim=dkim)
