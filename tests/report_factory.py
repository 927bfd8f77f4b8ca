"""Hand-made TLS-RPT fixtures for the store/import/table tests: JSON reports and report mail.

Written from scratch (no sample data copied); each test derives its expected values from the
dicts it builds here, so a change to a fixture changes the expectations with it.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any


def sts_policy(
    domain: str,
    ok: int,
    failed: int,
    *,
    mode: str = "enforce",
    mx: tuple[str, ...] = ("mx1.example.net",),
    max_age: int = 604800,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    pol: dict[str, Any] = {
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", f"mode: {mode}"]
            + [f"mx: {m}" for m in mx]
            + [f"max_age: {max_age}"],
            "policy-domain": domain,
            "mx-host": list(mx),
        },
        "summary": {
            "total-successful-session-count": ok,
            "total-failure-session-count": failed,
        },
    }
    if details is not None:
        pol["failure-details"] = details
    return pol


def tlsa_policy(domain: str, ok: int, failed: int, records: int = 2) -> dict[str, Any]:
    return {
        "policy": {
            "policy-type": "tlsa",
            "policy-string": [f"3 1 1 {i:064X}" for i in range(records)],
            "policy-domain": domain,
        },
        "summary": {
            "total-successful-session-count": ok,
            "total-failure-session-count": failed,
        },
    }


def no_policy(domain: str, ok: int) -> dict[str, Any]:
    return {
        "policy": {"policy-type": "no-policy-found", "policy-domain": domain},
        "summary": {"total-successful-session-count": ok, "total-failure-session-count": 0},
    }


def failure(
    result_type: str,
    count: int,
    *,
    sending: str | None = None,
    mx: str | None = None,
    ip: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    d: dict[str, Any] = {"result-type": result_type, "failed-session-count": count}
    if sending:
        d["sending-mta-ip"] = sending
    if mx:
        d["receiving-mx-hostname"] = mx
    if ip:
        d["receiving-ip"] = ip
    if code:
        d["failure-reason-code"] = code
    return d


def report(
    org: str,
    report_id: str,
    day: str,
    policies: list[dict[str, Any]],
    *,
    contact: str | None = "tlsrpt@sender.example",
) -> dict[str, Any]:
    return {
        "organization-name": org,
        "date-range": {
            "start-datetime": f"{day}T00:00:00Z",
            "end-datetime": f"{day}T23:59:59Z",
        },
        "contact-info": contact,
        "report-id": report_id,
        "policies": policies,
    }


def to_json(rep: dict[str, Any]) -> bytes:
    return json.dumps(rep, indent=1).encode()


def to_mail(rep: dict[str, Any], *, submitter: str = "sender.example", msgid: int = 1) -> bytes:
    """A Google-like report mail: multipart/report, text part + gzip attachment in base64."""
    domain = rep["policies"][0]["policy"]["policy-domain"]
    gz = gzip.compress(json.dumps(rep).encode(), mtime=0)
    b64 = base64.encodebytes(gz).decode()
    boundary = f"=-=boundary{msgid}=-="
    return (
        f"From: noreply-smtp-tls-reporting@{submitter}\r\n"
        f"To: tlsrpt@{domain}\r\n"
        f"Subject: Report Domain: {domain} Submitter: {submitter}"
        f" Report-ID: <{rep['report-id']}>\r\n"
        f"Date: Mon, 11 May 2026 12:00:00 +0000\r\n"
        f"Message-ID: <{msgid}@{submitter}>\r\n"
        f"TLS-Report-Domain: {domain}\r\n"
        f"TLS-Report-Submitter: {submitter}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; boundary="{boundary}"; report-type="tlsrpt"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
        "This is an aggregate TLS report.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: application/tlsrpt+gzip;"
        f' name="{submitter}!{domain}!1!2!{msgid}.json.gz"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{submitter}!{domain}.json.gz"\r\n\r\n'
        f"{b64}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


DMARC_MAIL = (
    b"From: noreply-dmarc-support@sender.example\r\n"
    b"To: dmarc@example.org\r\n"
    b"Subject: Report domain: example.org Submitter: sender.example Report-ID: <123>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain\r\n\r\n"
    b"Just an ordinary message, no report here.\r\n"
)


def fixture_set() -> dict[str, dict[str, Any]]:
    """The reports the table tests use: three senders, two domains, STS/TLSA/no-policy, failures.

    Names are file names (sorted order = import order)."""
    return {
        "a_google_0501.json": report(
            "Google Inc.",
            "2026-05-01T00:00:00Z_example.org",
            "2026-05-01",
            [sts_policy("example.org", 120, 0, mx=("mx1.example.org", "mx2.example.org"))],
            contact="smtp-tls-reporting@google.example",
        ),
        "b_ms_0502.json": report(
            "Microsoft Corporation",
            "134244139446293765+example.org",
            "2026-05-02",
            [
                sts_policy("example.org", 7, 3, max_age=86400, details=[
                    failure("certificate-expired", 2, sending="192.0.2.10",
                            mx="mx1.example.org", ip="198.51.100.1"),
                    failure("validation-failure", 1, sending="192.0.2.11",
                            mx="mx2.example.org", code="X509_V_ERR_CERT_HAS_EXPIRED"),
                ]),
                tlsa_policy("example.org", 7, 0, records=6),
            ],
            contact="tlsrpt-noreply@microsoft.example",
        ),
        "c_self_0503.json": report(
            "mx.other.example",
            "self-42",
            "2026-05-03",
            [no_policy("other.example", 5)],
            contact=None,
        ),
    }
