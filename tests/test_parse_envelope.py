"""Notes on the carrying mail: DKIM signer and TLS-Report-* headers (RFC 8460 §3, §5.3)."""

from __future__ import annotations

from report_factory import report, sts_policy, to_mail

from tlsrpt_tui.core.model import InputStatus
from tlsrpt_tui.core.parse import parse_bytes

DKIM = b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=%s; s=sel;\r\n bh=x; b=y\r\n"


def _mail(*, dkim: bytes | None, submitter: str = "sender.example", drop: bytes = b"") -> bytes:
    rep = report("Sender Inc.", "rid-env", "2026-05-01", [sts_policy("example.org", 5, 0)])
    mail = to_mail(rep, submitter=submitter)
    if drop:
        mail = b"".join(line for line in mail.splitlines(True) if not line.startswith(drop))
    return (DKIM % dkim if dkim else b"") + mail


def _notes(data: bytes) -> tuple[str, ...]:
    parsed = parse_bytes(data, "m.eml")
    assert parsed.status is InputStatus.REPORT, parsed.error
    return parsed.reports[0].notes


def test_signed_by_the_submitter_has_no_envelope_note() -> None:
    assert _notes(_mail(dkim=b"sender.example")) == ()
    assert _notes(_mail(dkim=b"mail.sender.example")) == ()


def test_unsigned_mail_is_noted_as_unverified() -> None:
    assert _notes(_mail(dkim=None)) == (
        "mail is not DKIM-signed: treat the report as unverified (RFC 8460 §3)",
    )


def test_signer_unrelated_to_the_submitter_is_noted() -> None:
    assert _notes(_mail(dkim=b"Gateway.Example.NET")) == (
        "DKIM signer d=gateway.example.net is not the submitter sender.example: "
        "treat the report as unverified (RFC 8460 §3)",
    )


def test_missing_report_headers_are_noted() -> None:
    notes = _notes(_mail(dkim=b"sender.example", drop=b"TLS-Report-Submitter"))
    assert notes == ("TLS-Report-Submitter header missing (RFC 8460 §5.3)",)


def test_report_domain_header_naming_another_domain_is_noted() -> None:
    mail = _mail(dkim=b"sender.example").replace(
        b"TLS-Report-Domain: example.org", b"TLS-Report-Domain: other.example"
    )
    assert _notes(mail) == (
        "TLS-Report-Domain other.example names none of the report's policy domains",
    )


def test_real_signed_reports_carry_no_envelope_note(samples_dir) -> None:
    for name in ("mox/microsoft.eml", "tlsrpt-digest/tlsrpt_success_google_1.eml"):
        parsed = parse_bytes((samples_dir / name).read_bytes(), name)
        assert parsed.status is InputStatus.REPORT
        assert not [n for n in parsed.reports[0].notes if "DKIM" in n or "header" in n], name
