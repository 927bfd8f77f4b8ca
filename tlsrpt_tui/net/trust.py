"""Trust roots for the live checks: the system CA bundle plus the optional configured ca_file.

The same roots serve the STARTTLS verification (as ``cryptography`` certificates) and the
MTA-STS policy fetch (as an ``ssl.SSLContext``), so both checks agree on what is trusted. The
configured ``ca_file`` is the normal way to trust a private CA (also how the tests trust theirs).
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import warnings

from cryptography import x509


class TrustError(Exception):
    """The CA file cannot be used; the message names the file and the reason."""


_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def system_bundle() -> str | None:
    """Path of the system CA bundle (OpenSSL's default, Debian's, then certifi's), or None."""
    paths = ssl.get_default_verify_paths()
    candidates = [paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"]
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    try:
        import certifi  # httpx depends on it; a last resort on systems without a bundle
    except ImportError:
        return None
    return certifi.where()


def _read_pem(path: str) -> tuple[x509.Certificate, ...]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise TrustError(f"CA file {path}: cannot read it: {exc.strerror or exc}") from exc
    certs = []
    with warnings.catch_warnings():  # old roots with odd serials warn; they still count
        warnings.simplefilter("ignore")
        for block in _PEM_BLOCK.findall(data):
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue  # one odd certificate in a system bundle must not disable the rest
    return tuple(certs)


@functools.lru_cache(maxsize=8)
def load_roots(ca_file: str | None = None) -> tuple[x509.Certificate, ...]:
    """System roots plus the certificates in ``ca_file``; raises TrustError for a bad ca_file."""
    roots: tuple[x509.Certificate, ...] = ()
    bundle = system_bundle()
    if bundle:
        roots += _read_pem(bundle)
    if ca_file:
        extra = _read_pem(ca_file)
        if not extra:
            raise TrustError(f"CA file {ca_file}: contains no PEM certificate")
        roots += extra
    return roots


@functools.lru_cache(maxsize=8)
def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying TLS client context (hostname checked) trusting the system roots + ca_file.

    Cached: loading the system bundle costs about 20 ms, and one context serves any number of
    connections. (Like ``load_roots``, a changed ca_file is seen after a restart.)"""
    ctx = ssl.create_default_context(cafile=system_bundle())
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TrustError(f"CA file {ca_file}: cannot load it: {exc}") from exc
    return ctx
