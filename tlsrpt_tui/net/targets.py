"""Which addresses the live checks may connect to (the SSRF guard of the policy fetch and probe).

The domain owner controls where its policy host and MX point, so a check run on an internal
host could be made to connect to loopback, private or link-local services (a cloud metadata
address, an admin interface). Both the MTA-STS policy fetch and the STARTTLS probe refuse such
targets before connecting unless ``allow_private_targets`` is set.
"""

from __future__ import annotations

import ipaddress


def is_public(address: str) -> bool:
    """Whether an address is a public unicast target (the SSRF guard's test)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global  # e.g. 100.64.0.0/10 shared address space (cloud metadata hosts)
    )
