"""The system resolver's address is read from resolv.conf as dnspython reads it.

``net.dns.system_nameserver`` replaced ``dns.resolver.Resolver()`` (whose import costs every
``import`` and ``check`` a third of a second): each file here is read by both, and the first
name server must agree."""

from __future__ import annotations

from pathlib import Path

import dns.resolver
import pytest

from tlsrpt_tui.net.dns import Resolver, system_nameserver

CASES = {
    "plain": "nameserver 192.0.2.53\n",
    "comments and options": "# generated\n; old\noptions edns0 trust-ad\nsearch example\n"
                            "nameserver 192.0.2.7 # first\nnameserver 192.0.2.8\n",
    "ipv6 first": "domain example\nnameserver 2001:db8::53\nnameserver 192.0.2.1\n",
    "commented-out server": "#nameserver 192.0.2.9\nnameserver 198.51.100.2\n",
    "tabs and CRLF": "nameserver\t203.0.113.5\r\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_first_nameserver_matches_dnspython(tmp_path: Path, text: str) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(text)
    expected = str(dns.resolver.Resolver(filename=str(conf)).nameservers[0])
    assert system_nameserver(str(conf)) == expected


def test_a_host_name_is_skipped(tmp_path: Path) -> None:
    """dnspython refuses the whole file (ValueError); the next address still serves."""
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver dns.example\nnameserver 192.0.2.44\n")
    with pytest.raises(ValueError):
        dns.resolver.Resolver(filename=str(conf))
    assert system_nameserver(str(conf)) == "192.0.2.44"


def test_no_nameserver_or_no_file_is_none(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example\noptions ndots:2\n")
    assert system_nameserver(str(conf)) is None
    assert system_nameserver(str(tmp_path / "missing")) is None


def test_resolver_without_server_uses_the_system_one(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.99\n")
    monkeypatch.setattr("tlsrpt_tui.net.dns.RESOLV_CONF", str(conf))
    assert (Resolver().host, Resolver().port) == ("192.0.2.99", 53)
    conf.write_text("search example\n")
    with pytest.raises(ValueError, match="none in"):
        Resolver()
