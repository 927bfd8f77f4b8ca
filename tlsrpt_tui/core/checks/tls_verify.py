"""Judge the certificate chain an MX presented after STARTTLS, and match it against TLSA.

The probe (net/starttls.py) handshakes WITHOUT verification and hands the presented chain here,
so every failure gets its own code (tls.expired, tls.untrusted, tls.host-mismatch, ...) instead
of one opaque handshake error. Pure: no I/O; the trust roots and "now" are passed in.

Chain trust is judged by OpenSSL (through pyOpenSSL's X509Store), the verifier Postfix and Exim
use and the one the MTA-STS policy fetch uses through ``ssl``: with the same roots (the caller
passes the store net/trust.py builds from the same files, or the root certificates) and the same
purpose (TLS server), a chain the policy fetch accepts is never "untrusted" here. A stricter
WebPKI verifier (``cryptography``'s) rejects chains that mail senders accept, e.g. a private
CA's leaf with a critical SAN beside a non-empty subject, so it is not used for the verdict.
Expiry and the host name are checked separately (the leaf's dates and names are not part of
the chain check), so one broken property never hides or masquerades as another.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from OpenSSL import crypto

from tlsrpt_tui.core.checks.catalogue import finding as _finding
from tlsrpt_tui.core.checks.dane import TlsaRecord
from tlsrpt_tui.core.findings import Finding, Severity

EXPIRY_WARNING = dt.timedelta(days=14)
OLD_VERSIONS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})


def printable(text: str) -> str:
    """Untrusted text (certificate names, server replies) made safe for a one-line message:
    control and other non-printable characters become visible escapes (\\x1b, \\u202e)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def finding(code: str, subject: str, detail: str | None = None, **kw: Any) -> Finding:
    """catalogue.finding with the detail passed through ``printable``."""
    return _finding(code, subject, printable(detail) if detail else detail, **kw)


@dataclass(slots=True)
class ProbeResult:
    """What a STARTTLS probe of one MX address saw, and the findings about it."""

    host: str
    address: str
    port: int = 25
    reachable: bool = False  # connected and greeted
    attempted: bool = False  # a TCP connection was tried (not refused by the target guard)
    connected: bool = False  # the TCP connection was accepted (even if no greeting followed)
    starttls: bool | None = None  # None: not known (never got to EHLO)
    protocol: str | None = None  # e.g. "TLSv1.3"
    cipher: str | None = None
    issuer: str | None = None  # RFC 4514 string of the leaf's issuer
    subject_dn: str | None = None
    sans: tuple[str, ...] = ()
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    spki_sha256: str | None = None  # hex
    chain: tuple[bytes, ...] = ()  # DER, leaf first, as presented
    dane_matched: bool | None = None  # None: no usable TLSA given
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "address": self.address,
            "port": self.port,
            "reachable": self.reachable,
            "attempted": self.attempted,
            "connected": self.connected,
            "starttls": self.starttls,
            "protocol": self.protocol,
            "cipher": self.cipher,
            "issuer": self.issuer,
            "subject": self.subject_dn,
            "sans": list(self.sans),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "spki_sha256": self.spki_sha256,
            "dane_matched": self.dane_matched,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    spki_sha256: str


def cert_info(cert: x509.Certificate) -> CertInfo:
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=tuple(dns_names(cert)),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        spki_sha256=hashlib.sha256(_spki(cert)).hexdigest(),
    )


def expiring_soon(code: str, host: str, where: str, info: CertInfo, now: dt.datetime
                  ) -> Finding | None:
    """``code`` (``tls.expiring-soon`` for an MX, ``sts.policy.expiring-soon`` for the policy
    host) when a currently valid certificate has fewer than 14 days left, else None. The
    message names the notAfter date and the key (SPKI SHA-256): together they say which
    certificate it is, so ``check.expiring`` announces each certificate once."""
    if not in_expiry_warning(info.not_before, info.not_after, now):
        return None
    days = (info.not_after - now).days
    return finding(code, host, f"{where}: expires {info.not_after:%Y-%m-%d} UTC ({days} days "
                               f"left; SPKI SHA-256 {info.spki_sha256[:16]})")


def in_expiry_warning(not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime) -> bool:
    """Valid now, with fewer than 14 days left: what ``expiring_soon`` warns about (asked
    first by callers that can skip building a CertInfo otherwise)."""
    return not_before <= now <= not_after and not_after - now < EXPIRY_WARNING


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.value.get_values_for_type(x509.DNSName)]


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 matching of one SAN DNS name: exact, or ``*.`` standing for exactly one label."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:] and "." in pattern[2:]
    return pattern == host


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- DANE ------------------------------------------------------------------------------------
def _association(record: TlsaRecord, cert: x509.Certificate) -> bytes | None:
    if record.selector == 0:
        content = cert.public_bytes(serialization.Encoding.DER)
    elif record.selector == 1:
        content = _spki(cert)
    else:
        return None
    if record.mtype == 0:
        return content
    if record.mtype == 1:
        return hashlib.sha256(content).digest()
    if record.mtype == 2:
        return hashlib.sha512(content).digest()
    return None


def tlsa_matches(record: TlsaRecord, chain: Sequence[x509.Certificate]) -> bool:
    """Does one TLSA record match the presented chain (RFC 7671, RFC 7672 §3.1)?

    DANE-EE (3) matches the leaf only. DANE-TA (2) matches a certificate of the chain above the
    leaf that the leaf chains up to by signature (the TA must be presented; RFC 7672 §3.1.2).
    Usages 0 and 1 are not for SMTP and never match.
    """
    if not chain:
        return False
    if record.usage == 3:
        return _association(record, chain[0]) == record.data
    if record.usage != 2:
        return False
    for i in range(1, len(chain)):
        if _association(record, chain[i]) == record.data:
            return _links(chain[: i + 1])
    return False


def _links(path: Sequence[x509.Certificate]) -> bool:
    """Each certificate of ``path`` is signed by the next one."""
    for child, parent in itertools.pairwise(path):
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError):  # bad signature, unsupported key
            return False
    return True


# -- verification ----------------------------------------------------------------------------
#: X509_V_FLAG_TRUSTED_FIRST: what ``ssl.create_default_context()`` sets (its verify_flags).
_TRUSTED_FIRST = 0x8000
#: X509_V_FLAG_NO_CHECK_TIME: the stores are shared and their time cannot be reset, so OpenSSL
#: judges signatures, issuers, constraints and purpose, and validity is checked here, at the
#: caller's "now" (the leaf's own expiry is tls.expired, never "untrusted").
NO_CHECK_TIME = 0x200000


def server_purpose(store: crypto.X509Store) -> None:
    """Verify for the TLS-server purpose, as an ``ssl`` client does (EKU serverAuth)."""
    from OpenSSL._util import lib  # pyOpenSSL's own bindings: X509_STORE_set_purpose

    lib.X509_STORE_set_purpose(store._store, lib.X509_PURPOSE_SSL_SERVER)


@functools.lru_cache(maxsize=4)
def openssl_store(roots: tuple[x509.Certificate, ...]) -> crypto.X509Store:
    """An OpenSSL store of ``roots`` (cached: building it costs more than a verification)."""
    store = crypto.X509Store()
    for root in roots:
        store.add_cert(crypto.X509.from_cryptography(root))
    store.set_flags(_TRUSTED_FIRST | NO_CHECK_TIME)
    server_purpose(store)
    return store


Trust = crypto.X509Store | Sequence[x509.Certificate]


def verify_chain(
    chain: Sequence[x509.Certificate],
    trust: Trust,
    at: dt.datetime,
    host: str | None = None,
) -> str | None:
    """OpenSSL chain verification; None or OpenSSL's reason it fails.

    ``trust`` is an X509Store built with ``NO_CHECK_TIME`` (net/trust.py's, built like the
    policy fetch's context) or root certificates. The certificates above the leaf must be
    valid at ``at``; the leaf's own validity and the host name are deliberately not judged
    here (tls.expired and tls.host-mismatch are their own findings); ``host`` is accepted for
    the callers' convenience only.
    """
    del host
    if isinstance(trust, crypto.X509Store):
        store = trust
    else:
        if not trust:
            return "no trust roots are configured"
        store = openssl_store(tuple(trust))
    leaf = crypto.X509.from_cryptography(chain[0])
    untrusted = [crypto.X509.from_cryptography(c) for c in chain[1:]]
    try:
        path = crypto.X509StoreContext(store, leaf, untrusted).get_verified_chain()
    except crypto.X509StoreContextError as exc:
        return str(exc) or "the chain does not verify"
    for cert in path[1:]:
        ca = cert.to_cryptography()
        if not ca.not_valid_before_utc <= at <= ca.not_valid_after_utc:
            span = f"{ca.not_valid_before_utc:%Y-%m-%d} to {ca.not_valid_after_utc:%Y-%m-%d}"
            return f"CA certificate {ca.subject.rfc4514_string()} is not valid now ({span})"
    return None


def parse_chain(chain_der: Sequence[bytes]) -> list[x509.Certificate]:
    """Parse the presented chain; raises ValueError naming the position that is not X.509."""
    certs = []
    for i, der in enumerate(chain_der):
        try:
            cert = x509.load_der_x509_certificate(der)
            # The loader is lazy: read what the checks use now, so a broken key or extension
            # is this error (naming its position) and not an exception in the middle of them.
            _ = cert.public_key(), cert.extensions, cert.subject, cert.issuer
            _ = cert.not_valid_before_utc, cert.not_valid_after_utc
            certs.append(cert)
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise ValueError(
                f"certificate {i} of the presented chain is not valid X.509: {exc}"
            ) from exc
    return certs


def verify_presented(
    result: ProbeResult,
    roots: Trust,
    now: dt.datetime,
    tlsa: Sequence[TlsaRecord] | None = None,
) -> ProbeResult:
    """Fill ``result`` (chain and protocol already set) with certificate details and findings."""
    host, where = result.host, f"{result.host} at {result.address}"
    tlsa_name = f"_25._tcp.{host}"  # dane.* findings name the TLSA RRset, as the DNS checks do
    out: list[Finding] = []
    try:
        chain = parse_chain(result.chain)
    except ValueError as exc:
        result.findings.append(finding("tls.handshake-failed", host, f"{where}: {exc}"))
        return result
    if not chain:
        result.findings.append(
            finding("tls.handshake-failed", host, f"{where}: no certificate presented")
        )
        return result
    leaf = chain[0]
    info = cert_info(leaf)
    result.subject_dn, result.issuer, result.sans = info.subject, info.issuer, info.sans
    result.not_before, result.not_after = info.not_before, info.not_after
    result.spki_sha256 = info.spki_sha256

    if result.protocol in OLD_VERSIONS:
        out.append(finding("tls.old-version", host, f"{where} negotiated {result.protocol}"))

    if now > info.not_after:
        out.append(
            finding("tls.expired", host, f"{where}: expired {info.not_after:%Y-%m-%d %H:%M} UTC")
        )
    elif now < info.not_before:
        out.append(
            finding(
                "tls.expired", host, f"{where}: not valid before {info.not_before:%Y-%m-%d} UTC"
            )
        )
    else:
        soon = expiring_soon("tls.expiring-soon", host, where, info, now)
        if soon is not None:
            out.append(soon)

    if not any(name_matches(n, host) for n in info.sans):
        names = ", ".join(info.sans) if info.sans else "no DNS names"
        out.append(finding("tls.host-mismatch", host, f"{where}: {host} not in SAN ({names})"))

    usable = [r for r in (tlsa or []) if r.usable]
    ee_matched = False
    if usable:
        matched = [r for r in usable if tlsa_matches(r, chain)]
        result.dane_matched = bool(matched)
        ee_matched = any(r.usage == 3 for r in matched)
        if matched:
            shown = matched[0].to_text()[:24]
            out.append(finding("dane.ok", tlsa_name, f"{where} matches {shown}…"))
        else:
            detail = f"{where} presents SPKI SHA-256 {info.spki_sha256}"
            out.append(finding("dane.mismatch", tlsa_name, detail))

    reason = verify_chain(chain, roots, now, host)  # the leaf's expiry is reported on its own
    if reason is not None:
        if ee_matched:
            out.append(
                finding(
                    "tls.untrusted",
                    host,
                    f"{where}: {reason} (a DANE-EE record matches, so DANE senders accept it)",
                    severity=Severity.INFO,
                    result_type=None,
                )
            )
        else:
            out.append(finding("tls.untrusted", host, f"{where}: {reason}"))

    if not any(f.code.startswith("tls.") for f in out):
        detail = f"{where}: {result.protocol or 'TLS'}, valid until {info.not_after:%Y-%m-%d}"
        out.append(finding("tls.ok", host, detail))
    result.findings.extend(out)
    return result
