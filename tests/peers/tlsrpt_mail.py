"""Generated mail for the IMAP tests and the sync benchmark (no real samples copied).

Shapes follow what the big senders mail (RFC 8460 §5.3): Google-style (multipart/report;
report-type=tlsrpt, one application/tlsrpt+gzip part) and Microsoft-style (same MIME, its
report-id ``<FILETIME>+<domain>``, mx-host lists and failure details); plus mail that is not
TLS-RPT (a DMARC aggregate report, ordinary mail) and mail that claims to be a report but
cannot be read (corrupt gzip, broken JSON).
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

BASE = datetime(2026, 5, 1, tzinfo=UTC)


def report_json(
    i: int, *, org: str, domain: str = "example.com", failures: bool = False,
    start: datetime | None = None,
) -> bytes:
    start = start if start is not None else BASE + timedelta(days=i % 300)
    end = start + timedelta(days=1) - timedelta(seconds=1)
    if org.startswith("Microsoft"):
        rid = f"{133600000000000000 + i * 10_000_000}+{domain}"
    else:
        rid = f"{start:%Y-%m-%dT%H:%M:%SZ}_{domain}_{i}"
    policy: dict[str, object] = {
        "policy": {
            "policy-type": "sts",
            "policy-string": [
                "version: STSv1",
                "mode: enforce",
                f"mx: mx.{domain}",
                "max_age: 86400",
            ],
            "policy-domain": domain,
            "mx-host": [f"mx.{domain}"],
        },
        "summary": {"total-successful-session-count": 100 + i, "total-failure-session-count": 0},
    }
    if failures:
        policy["summary"] = {"total-successful-session-count": 50, "total-failure-session-count": 3}
        policy["failure-details"] = [
            {
                "result-type": "certificate-expired",
                "sending-mta-ip": "203.0.113.7",
                "receiving-mx-hostname": f"mx.{domain}",
                "failed-session-count": 3,
            }
        ]
    doc = {
        "organization-name": org,
        "date-range": {
            "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end-datetime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "contact-info": "smtp-tls-reporting@"
        + ("google.com" if "Google" in org else "microsoft.com"),
        "report-id": rid,
        "policies": [policy],
    }
    return json.dumps(doc).encode()


def _b64_lines(data: bytes) -> str:
    enc = base64.b64encode(data).decode()
    return "\r\n".join(enc[i : i + 76] for i in range(0, len(enc), 76))


def _report_mail(i: int, org: str, submitter: str, payload: bytes, filename: str) -> bytes:
    domain = "example.com"
    date = format_datetime(BASE + timedelta(days=i % 300, hours=6))
    boundary = f"=_tlsrpt_{i}"
    return (
        f"From: TLS Reports <noreply-smtp-tls-reporting@{submitter}>\r\n"
        f"To: tlsrpt@{domain}\r\n"
        f"Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{i}@{submitter}>\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <tlsrpt-{i}@{submitter}>\r\n"
        f"TLS-Report-Domain: {domain}\r\n"
        f"TLS-Report-Submitter: {submitter}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type="tlsrpt"; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"This is an aggregate TLS report from {submitter}\r\n\r\n"
        f"--{boundary}\r\n"
        f'Content-Type: application/tlsrpt+gzip; name="{filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'
        f"{_b64_lines(payload)}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def fresh_report(
    i: int, *, org: str = "Google Inc.", domain: str = "example.com", failures: bool = True,
    start: datetime | None = None,
) -> bytes:
    """A report for yesterday (or ``start``), as a sender mails it today: not late."""
    if start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=1)
    data = gzip.compress(
        report_json(i, org=org, domain=domain, failures=failures, start=start), mtime=0
    )
    return _report_mail(i, org, "google.com", data, f"google.com!{domain}!{i}.json.gz")


def google_report(i: int, failures: bool = False) -> bytes:
    data = gzip.compress(report_json(i, org="Google Inc.", failures=failures), mtime=0)
    return _report_mail(i, "Google Inc.", "google.com", data, f"google.com!example.com!{i}.json.gz")


def microsoft_report(i: int, failures: bool = False) -> bytes:
    data = gzip.compress(report_json(i, org="Microsoft Corporation", failures=failures), mtime=0)
    name = f"enterprise.protection.outlook.com!example.com!{i}!{i + 1}.json.gz"
    return _report_mail(i, "Microsoft Corporation", "microsoft.com", data, name)


def unreadable_report(i: int) -> bytes:
    """Claims to be TLS-RPT, but the gzip is cut short (or the JSON inside is broken)."""
    if i % 2:
        payload = gzip.compress(report_json(i, org="Broken Corp"), mtime=0)[:40]
    else:
        payload = gzip.compress(b'{"organization-name": "Broken", "policies": [', mtime=0)
    return _report_mail(i, "Broken Corp", "broken.example", payload, f"broken!{i}.json.gz")


def dmarc_report(i: int) -> bytes:
    xml = (
        f"<?xml version='1.0'?><feedback><report_metadata><org_name>google.com</org_name>"
        f"<report_id>{i}</report_id></report_metadata></feedback>"
    ).encode()
    payload = gzip.compress(xml, mtime=0)
    return (
        "From: noreply-dmarc-support@google.com\r\n"
        "To: dmarc@example.com\r\n"
        f"Subject: Report domain: example.com Submitter: google.com Report-ID: {i}\r\n"
        f"Message-ID: <dmarc-{i}@google.com>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: application/gzip; name="google.com!example.com!{i}.xml.gz"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{_b64_lines(payload)}\r\n"
    ).encode()


def ordinary_mail(i: int) -> bytes:
    return (
        "From: Alice <alice@example.org>\r\n"
        "To: tlsrpt@example.com\r\n"
        f"Subject: lunch on the {i}th?\r\n"
        f"Message-ID: <plain-{i}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Shall we?\r\n"
    ).encode()


def mixed(n: int) -> tuple[list[bytes], dict[str, int]]:
    """n messages cycling through the kinds; returns them and the expected count per kind."""
    kinds = ["google", "microsoft", "google", "dmarc", "microsoft", "plain", "unreadable", "google"]
    out: list[bytes] = []
    expected = {"report": 0, "not_report": 0, "rejected": 0}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "google":
            out.append(google_report(i, failures=i % 5 == 0))
            expected["report"] += 1
        elif kind == "microsoft":
            out.append(microsoft_report(i, failures=i % 3 == 0))
            expected["report"] += 1
        elif kind == "dmarc":
            out.append(dmarc_report(i))
            expected["not_report"] += 1
        elif kind == "plain":
            out.append(ordinary_mail(i))
            expected["not_report"] += 1
        else:
            out.append(unreadable_report(i))
            expected["rejected"] += 1
    return out, expected
