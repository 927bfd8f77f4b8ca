"""``watch --metrics HOST:PORT``: the service's state in the Prometheus text format.

Read at scrape time, not counted as it happens: check state and time per domain and item (from
the last checks of this process), sessions ok/failed per domain and sender over the last 7 days
(one grouped query on the store, through its own read-only connection, since the exporter runs
in its own thread), each supervised worker's state, and each alert channel's pending count and
failing state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from tlsrpt_tui.core.findings import Severity
from tlsrpt_tui.core.status_items import group_findings
from tlsrpt_tui.store.database import StoreError

_STATES = ("starting", "running", "standby", "retrying", "stopped")


class MonitorCollector(Collector):
    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.monitor
        item = GaugeMetricFamily(
            "tlsrpt_check_item_severity",
            "Severity of a status item at the last check (0 ok, 1 info, 2 warning, 3 error)",
            labels=["domain", "item"],
        )
        checked = GaugeMetricFamily(
            "tlsrpt_check_last_timestamp_seconds", "When the domain was last checked",
            labels=["domain"],
        )
        for domain, status in list(m.last_checks.items()):
            for it in group_findings(status.findings):
                item.add_metric([domain, it.label], it.severity.rank)
            when = datetime.fromisoformat(status.checked_at)
            checked.add_metric([domain], when.timestamp())
            item.add_metric([domain, "overall"], Severity(status.status).rank)
        yield item
        yield checked
        worker = GaugeMetricFamily(
            "tlsrpt_worker_state", "Supervised worker state (1 for the current state)",
            labels=["worker", "state"],
        )
        failures = GaugeMetricFamily(
            "tlsrpt_worker_failures", "Consecutive failures of a supervised worker",
            labels=["worker"],
        )
        for name, state in list(m.supervisor.states.items()):
            for s in _STATES:
                worker.add_metric([name, s], 1.0 if state.state == s else 0.0)
            failures.add_metric([name], state.failures)
        yield worker
        yield failures
        held = GaugeMetricFamily(
            "tlsrpt_lease_held", "1 for each lease (folder, check, alert channel) this worker "
            "holds; other workers sharing the store hold the rest", labels=["lease", "kind"],
        )
        leaser = getattr(m, "leaser", None)
        for name, lease in list(leaser.mine.items()) if leaser is not None else []:
            held.add_metric([name, lease.kind], 1.0)
        yield held
        yield from self._from_store()

    def _from_store(self) -> Iterator[GaugeMetricFamily]:
        path = self.monitor.store.path
        sessions = GaugeMetricFamily(
            "tlsrpt_sessions_7d", "TLS sessions reported over the last 7 days",
            labels=["domain", "sender", "result"],
        )
        pending = GaugeMetricFamily(
            "tlsrpt_alert_pending", "Alerts waiting for delivery on a channel", labels=["channel"]
        )
        failing = GaugeMetricFamily(
            "tlsrpt_alert_channel_failing", "1 while a channel fails to deliver",
            labels=["channel"],
        )
        try:
            if self.monitor.store.dialect == "sqlite":
                conn: Any = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            else:  # a connection of its own: the scrape runs on the metrics server's thread
                conn = self.monitor.store.reopen().conn
        except (sqlite3.Error, StoreError):
            return
        errors = (sqlite3.Error, self.monitor.store.Error)
        try:
            since = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0).isoformat()
            for domain, org, ok, bad in conn.execute(
                "SELECT p.policy_domain, r.organization, sum(p.successful), sum(p.failed)"
                " FROM policies p JOIN reports r ON r.id = p.report_pk WHERE p.start >= ?"
                " GROUP BY p.policy_domain, r.organization", (since,)
            ):
                sessions.add_metric([domain, org, "successful"], ok)
                sessions.add_metric([domain, org, "failed"], bad)
            for channel, n in conn.execute(
                "SELECT channel, count(*) FROM alert_deliveries WHERE state = 'pending'"
                " GROUP BY channel"
            ):
                pending.add_metric([channel], n)
            states = dict(conn.execute(
                "SELECT name, value FROM alert_state WHERE name LIKE 'channel:%'"
            ).fetchall())
            for channel in [c.name for c in self.monitor.config.alerts.channels]:
                failing.add_metric([channel], 1.0 if f"channel:{channel}" in states else 0.0)
        except errors:
            pass
        finally:
            conn.close()
        yield sessions
        yield pending
        yield failing


class StoreWaitCollector(Collector):
    """Before ``watch`` has its store (a PostgreSQL server down at boot): the wait, as the
    ``store`` worker (``retrying`` with its failures so far), so a scrape says why nothing
    else is there yet."""

    def __init__(self) -> None:
        self.failures = 0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        worker = GaugeMetricFamily(
            "tlsrpt_worker_state", "Supervised worker state (1 for the current state)",
            labels=["worker", "state"],
        )
        current = "retrying" if self.failures else "starting"
        for s in _STATES:
            worker.add_metric(["store", s], 1.0 if s == current else 0.0)
        yield worker
        failures = GaugeMetricFamily(
            "tlsrpt_worker_failures", "Consecutive failures of a supervised worker",
            labels=["worker"],
        )
        failures.add_metric(["store"], self.failures)
        yield failures


class SwitchCollector(Collector):
    """Serves ``target``'s metrics; the target is replaced once the monitor runs."""

    def __init__(self, target: Collector) -> None:
        self.target = target

    def collect(self) -> Iterator[Any]:
        yield from self.target.collect()

    def show_monitor(self, monitor: Any) -> None:
        self.target = MonitorCollector(monitor)


def start_metrics(target: Any, listen: str) -> SwitchCollector:
    """Serve the metrics of ``target`` (a monitor, or a Collector such as StoreWaitCollector)
    on HOST:PORT in a daemon thread; the returned switch can show the monitor later."""
    from prometheus_client import start_http_server

    host, _, port = listen.rpartition(":")
    switch = SwitchCollector(target if hasattr(target, "collect")
                             else MonitorCollector(target))
    registry = CollectorRegistry()
    registry.register(switch)
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    return switch
