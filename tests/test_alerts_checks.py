"""``check.changed`` on a real zone change: Knot (signed) + Unbound (validating) + TLS peers, and
the alert delivered to a real SMTP submission server and HTTPS webhook receiver."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers.alert_peers import PASSWORD, AlertPeers, alert_peers  # noqa: F401
from peers.dns import DnsPeers, Zone, dns_peers_factory  # noqa: F401
from peers.tls import TlsPeers

from tlsrpt_tui.service.config import AlertSettings, CheckSettings, Config, parse_config
from tlsrpt_tui.service.monitor import Monitor
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

DOMAIN = "alerted.test"
POLICY = f"version: STSv1\nmode: enforce\nmx: mx1.{DOMAIN}\nmax_age: 604800\n"
SMTP_ENV = "TLSRPT_TEST_CHECK_ALERT_SMTP"


def zone(tls: TlsPeers, tlsa: str, mx: str = "good") -> str:
    """The domain's zone; ``mx``: which STARTTLS peer (tests/peers/tls.py) its MX is."""
    return "\n".join([
        f'_smtp._tls.{DOMAIN}. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{DOMAIN}"',
        f'_mta-sts.{DOMAIN}. TXT "v=STSv1; id=20261201"',
        f"mta-sts.{DOMAIN}. A {tls.https_address}",
        f"{DOMAIN}. MX 10 mx1.{DOMAIN}.",
        f"mx1.{DOMAIN}. A {tls.smtp[mx]}",
        f"_25._tcp.mx1.{DOMAIN}. TLSA {tlsa}",
    ])


@pytest.fixture
def dns(tls_peers: TlsPeers, dns_peers_factory) -> Iterator[DnsPeers]:  # noqa: F811
    tls_peers.set_policy(f"mta-sts.{DOMAIN}", body=POLICY)
    good = f"3 1 1 {tls_peers.good_spki_sha256.hex()}"
    yield dns_peers_factory([Zone("test.", zone(tls_peers, good))], cache=False)


def metrics_text(monitor: Monitor) -> str:
    """What ``watch --metrics`` serves for this monitor (its collector, scraped once)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from tlsrpt_tui.service.metrics import MonitorCollector

    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor))
    return generate_latest(registry).decode()


async def test_a_tlsa_change_is_one_broke_alert_and_its_restore_one_recovered(
    dns: DnsPeers,
    tls_peers: TlsPeers,
    alert_peers: AlertPeers,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SMTP_ENV, PASSWORD)
    import tomllib

    alerts = parse_config(tomllib.loads(alert_peers.config_toml(SMTP_ENV)), tmp_path / "c.toml")
    config = Config(
        domains=(DOMAIN,),
        checks=CheckSettings(resolver=dns.resolver, ca_file=tls_peers.ca_file, timeout=2.0,
                             allow_private_targets=True),
        alerts=alerts.alerts,
    )
    good = f"3 1 1 {tls_peers.good_spki_sha256.hex()}"
    with Store(tmp_path / "s.sqlite3") as store:
        monitor = Monitor(config, store)
        status = await monitor.check(DOMAIN)
        assert "dane.ok" in status.codes, status.codes
        assert store.conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0

        dns.update_zone("test.", zone(tls_peers, "3 1 1 " + "ab" * 32))  # the wrong key
        status = await monitor.check(DOMAIN)
        assert "dane.ok" not in status.codes
        await monitor.check(DOMAIN)  # still broken: nothing new
        rows = store.conn.execute("SELECT code, summary FROM alerts").fetchall()
        assert [r[0] for r in rows] == ["check.changed"]
        assert f"DANE mx1.{DOMAIN} broke" in rows[0][1]
        # --metrics: per domain and item its check state, and when it was last checked
        broken = metrics_text(monitor)
        assert f'tlsrpt_check_item_severity{{domain="{DOMAIN}",item="DANE mx1.{DOMAIN}"}} 3.0' \
            in broken, broken
        assert f'tlsrpt_check_last_timestamp_seconds{{domain="{DOMAIN}"}} ' in broken

        dns.update_zone("test.", zone(tls_peers, good))
        status = await monitor.check(DOMAIN)
        assert "dane.ok" in status.codes
        rows = store.conn.execute("SELECT code, summary FROM alerts ORDER BY id").fetchall()
        assert [r[0] for r in rows] == ["check.changed", "check.changed"]
        assert f"DANE mx1.{DOMAIN} recovered" in rows[1][1]
        # back to info (dane.ok is an info finding), as before it broke
        assert f'tlsrpt_check_item_severity{{domain="{DOMAIN}",item="DANE mx1.{DOMAIN}"}} 1.0' \
            in metrics_text(monitor)

        for deliverer in monitor.deliverers:
            assert await deliverer.drain() == 2
    # (a decoded RFC 2047 subject may carry a doubled space at an encoded-word boundary)
    subjects = [" ".join(m["Subject"].split()) for m in alert_peers.smtp.received.messages]
    assert len(subjects) == 2
    assert subjects[0].startswith(f"[tlsrpt-tui] {DOMAIN}: DANE mx1.{DOMAIN} broke")
    assert "recovered" in subjects[1]
    body = alert_peers.smtp.received.messages[0].get_content()
    assert "tlsrpt-tui check alerted.test" in body and "dane." in body
    assert [p["summary"] for p in alert_peers.webhook.posts] == [
        s.removeprefix(f"[tlsrpt-tui] {DOMAIN}: ") for s in subjects
    ]
    assert os.environ.get(SMTP_ENV) == PASSWORD


async def test_an_expiring_policy_host_certificate_is_one_check_expiring_alert(
    dns: DnsPeers,
    tls_peers: TlsPeers,
    tmp_path: Path,
) -> None:
    """alerts.md: check.expiring covers "an MX or policy certificate". The real HTTPS policy
    host presents a certificate with 5 days left: one alert naming it, not repeated by the next
    check (same SPKI and notAfter; ``remind_hours`` 0)."""
    config = Config(
        domains=(DOMAIN,),
        checks=CheckSettings(resolver=dns.resolver, ca_file=tls_peers.ca_file, timeout=2.0,
                             allow_private_targets=True),
        alerts=AlertSettings(remind_hours=0),
    )
    tls_peers.set_policy(f"mta-sts.{DOMAIN}", body=POLICY, cert="expiring")
    try:
        with Store(tmp_path / "s.sqlite3") as store:
            monitor = Monitor(config, store)
            status = await monitor.check(DOMAIN)
            assert "sts.policy.expiring-soon" in status.codes, status.codes
            assert "sts.policy.ok" in status.codes  # the policy itself is still used
            await monitor.check(DOMAIN)
            rows = store.conn.execute(
                "SELECT code, summary, details_json FROM alerts WHERE code = 'check.expiring'"
            ).fetchall()
            assert len(rows) == 1
            assert f"certificate of mta-sts.{DOMAIN} expires soon" in rows[0][1]
            assert "sts.policy.expiring-soon" in rows[0][2]
    finally:
        tls_peers.set_policy(f"mta-sts.{DOMAIN}", body=POLICY)


async def test_an_expiring_mx_certificate_is_one_alert_reminded_per_remind_hours(
    dns: DnsPeers,
    tls_peers: TlsPeers,
    tmp_path: Path,
) -> None:
    """alerts.md check.expiring: the real MX presents a certificate with 5 days left over
    STARTTLS: one alert, nothing more at the next checks until ``remind_hours`` have passed,
    then one reminder."""
    from datetime import UTC, datetime, timedelta

    dns.update_zone("test.", zone(tls_peers, f"3 1 1 {tls_peers.good_spki_sha256.hex()}",
                                  mx="expiring"))
    now = [datetime.now(UTC)]
    config = Config(
        domains=(DOMAIN,),
        checks=CheckSettings(resolver=dns.resolver, ca_file=tls_peers.ca_file, timeout=2.0,
                             allow_private_targets=True),
        alerts=AlertSettings(remind_hours=24),
    )

    def expiring(store: Store) -> list[str]:
        return [r[0] for r in store.conn.execute(
            "SELECT summary FROM alerts WHERE code = 'check.expiring' ORDER BY id")]

    with Store(tmp_path / "s.sqlite3") as store:
        monitor = Monitor(config, store, clock=lambda: now[0])
        status = await monitor.check(DOMAIN)
        assert "tls.expiring-soon" in status.codes, status.codes
        assert expiring(store) == [f"certificate of mx1.{DOMAIN} expires soon"]
        now[0] += timedelta(hours=23)
        await monitor.check(DOMAIN)
        assert len(expiring(store)) == 1  # the same certificate: not again yet
        now[0] += timedelta(hours=2)
        await monitor.check(DOMAIN)
        assert expiring(store)[1:] == [f"certificate of mx1.{DOMAIN} expires soon (reminder)"]

