"""Trust roots for the live checks: the system CA bundle plus the optional configured ca_file.

The same files, loaded by the same library (OpenSSL) with the same verify flags and purpose,
serve the MTA-STS policy fetch (an ``ssl.SSLContext``) and the STARTTLS chain verification (an
OpenSSL ``X509Store``), so both checks agree on what is trusted, as sending MTAs built on
OpenSSL would. The configured ``ca_file`` is the normal way to trust a private CA (also how the
tests trust theirs).
"""

from __future__ import annotations

import functools
import os
import ssl

from OpenSSL import crypto

from tlsrpt_tui.core.checks.tls_verify import NO_CHECK_TIME, server_purpose


class TrustError(Exception):
    """The CA file cannot be used; the message names the file and the reason."""



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


@functools.lru_cache(maxsize=8)
def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying TLS client context (hostname checked) trusting the system roots + ca_file.

    Cached: loading the system bundle costs about 20 ms, and one context serves any number of
    connections. (A changed ca_file is seen after a restart.)"""
    ctx = ssl.create_default_context(cafile=system_bundle())
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TrustError(f"CA file {ca_file}: cannot load it: {exc}") from exc
    return ctx


@functools.lru_cache(maxsize=8)
def verify_store(ca_file: str | None = None) -> crypto.X509Store:
    """The OpenSSL store the STARTTLS chain is verified with: the files, flags and purpose of
    :func:`client_context`, so the probe trusts exactly what the policy fetch trusts (validity
    dates are checked by core.checks.tls_verify, see ``NO_CHECK_TIME`` there)."""
    context = client_context(ca_file)  # raises TrustError for a bad ca_file
    store = crypto.X509Store()
    for path in (system_bundle(), ca_file):
        if path:
            try:
                store.load_locations(path)
            except crypto.Error as exc:
                raise TrustError(f"CA file {path}: cannot load it: {exc}") from exc
    store.set_flags(int(context.verify_flags) | NO_CHECK_TIME)
    server_purpose(store)
    return store
