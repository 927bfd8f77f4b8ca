"""One spelling of a domain name: lower-case A-labels (IDNA), no final dot.

The config, the CLI and the checks all normalise through here, so stored results, change marks
and ``sts.policy.id-unchanged`` find the same key whether the user typed ``Bücher.example.``
or ``xn--bcher-kva.example``.
"""

from __future__ import annotations


def normalize_domain(name: str) -> str:
    """Lower-case A-label form without the final dot; ValueError names the bad input."""
    raw = name
    name = name.strip().rstrip(".").lower()
    if not name or " " in name or ".." in name:
        raise ValueError(f"{raw!r}: not a domain name")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{raw!r}: not a domain name ({exc})") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or any(not 0 < len(label) < 64 for label in labels):
        raise ValueError(f"{raw!r}: not a domain name (bad label length)")
    return ascii_name
