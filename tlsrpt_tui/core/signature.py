"""How a DKIM verdict is shown: the inbox's signature mark and the report screen's sentence.

One place for both, so the TUI, ``inbox`` and ``show`` say the same thing: ✓ only for a
signature that verified AND belongs to the reporting organization, ✗ for one that did not
match (altered or forged mail), ? for everything that proves nothing either way.
"""

from __future__ import annotations

from tlsrpt_tui.core.model import DkimVerdict

PASS_MARK = "✓"
FAIL_MARK = "✗"
UNKNOWN_MARK = "?"


def mark(verdict: DkimVerdict | None) -> str:
    if verdict is None:
        return UNKNOWN_MARK
    if verdict.result == "fail":
        return FAIL_MARK
    return PASS_MARK if verdict.trusted else UNKNOWN_MARK


def describe(verdict: DkimVerdict | None) -> str:
    """One sentence: what was verified, by whom, and what to make of it."""
    if verdict is None:
        return "not checked: the input was not mail (file, HTTPS) or was imported with --no-dkim"
    signer = f"d={verdict.domain}" if verdict.domain else "its signer"
    if verdict.selector:
        signer += f" (selector {verdict.selector})"
    by = f", as recorded by {verdict.authserv_id} (Authentication-Results)" if (
        verdict.authserv_id) else ""
    if verdict.result == "pass":
        if verdict.aligned:
            return f"DKIM pass: signed by {signer}, the reporting organization{by}"
        return (f"DKIM pass, but {signer} is not the reporting organization: "
                f"treat the report as unverified{by}")
    if verdict.result == "fail":
        return (f"DKIM FAIL: the signature of {signer} does not match the mail: altered or "
                f"forged; its figures are not to be believed{by}")
    if verdict.result == "none":
        return "not DKIM-signed: the report is unverified (RFC 8460 §3)"
    if verdict.result == "temperror":
        return f"DKIM not checked: the key of {signer} could not be fetched (DNS failure){by}"
    return (f"DKIM not verifiable: no usable key for {signer} (removed or malformed) "
            f"or a malformed signature{by}")
