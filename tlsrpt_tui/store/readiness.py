"""The aggregates behind enforce readiness, summed in SQL over a window of report start dates.

Three grouped queries per call (policies; failure details; reporters), each over the policies
index range of the window, so a store of 100,000s of reports answers without loading a report;
plus two look-ups in the stored check results that say since when a failure is fixed. Domains
are compared lower-cased and without a final dot, as senders spell them as they like.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from tlsrpt_tui.core.readiness import FailureAggregate, PolicyAggregate, ReporterAggregate
from tlsrpt_tui.store.database import Store

#: Policy types readiness answers for (unknown types a sender invents are left out).
TYPES = ("sts", "tlsa", "no-policy-found")
#: How a policy domain is grouped: lower-case, without a final dot.
_DOMAIN = "rtrim(lower(p.policy_domain), '.')"


def _where(since: date, until: date, domains: Sequence[str] | None,
           alias: str = "p") -> tuple[str, list[object]]:
    clauses = [f"{alias}.start >= ?", f"{alias}.start < ?",
               f"{alias}.policy_type IN ({','.join('?' * len(TYPES))})"]
    params: list[object] = [since.isoformat(), (until + timedelta(days=1)).isoformat(), *TYPES]
    if domains:
        # policy_domain is COLLATE NOCASE: this compares case-insensitively and uses its index;
        # a sender's "example.com." is the same domain (the grouping strips the dot too).
        names = [n for d in domains for n in (d.lower(), d.lower() + ".")]
        clauses.append(f"{alias}.policy_domain IN ({','.join('?' * len(names))})")
        params += names
    clauses.append(_NOT_FORGED.format(alias=alias))
    return " WHERE " + " AND ".join(clauses), params


#: A report whose mail failed DKIM (forged or altered) is not evidence: its failures are left
#: out of readiness as they are of the tables' Totals, the charts and the alerts.
_NOT_FORGED = ("{alias}.report_pk NOT IN (SELECT fr.id FROM reports fr"
               " JOIN raw_inputs fi ON fi.id = fr.input_id WHERE fi.dkim_result = 'fail')")


def policy_aggregates(store: Store, since: date, until: date,
                      domains: Sequence[str] | None = None) -> list[PolicyAggregate]:
    """Per policy domain and type: reports, sessions, failed sessions without details, days,
    and the policy strings of the newest report (where an STS policy's mode is written)."""
    where, params = _where(since, until, domains)
    rows = store.conn.execute(
        f"SELECT {_DOMAIN}, p.policy_type, count(DISTINCT p.report_pk),"
        " sum(p.successful), sum(p.failed),"
        " sum(CASE WHEN p.failed > p.detail_failed THEN p.failed - p.detail_failed ELSE 0 END),"
        " count(DISTINCT substr(p.start, 1, 10)), min(p.start), max(p.start)"
        f" FROM policies p{where} GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    ).fetchall()
    newest = _newest_policy_strings(store, since, until, domains)
    return [
        PolicyAggregate(
            domain=r[0], policy_type=r[1], reports=int(r[2]), successful=int(r[3] or 0),
            failed=int(r[4] or 0), unexplained=int(r[5] or 0), days=int(r[6]),
            first_day=date.fromisoformat(r[7][:10]), last_day=date.fromisoformat(r[8][:10]),
            policy_strings=newest.get((r[0], r[1]), ()),
        )
        for r in rows
    ]


def _newest_policy_strings(store: Store, since: date, until: date,
                           domains: Sequence[str] | None) -> dict[tuple[str, str], tuple[str, ...]]:
    where, params = _where(since, until, domains)
    rows = store.conn.execute(
        f"SELECT d, t, s FROM (SELECT {_DOMAIN} AS d, p.policy_type AS t,"
        f" p.policy_strings AS s, row_number() OVER (PARTITION BY {_DOMAIN},"
        f" p.policy_type ORDER BY p.start DESC, p.id DESC) AS n FROM policies p{where}) newest"
        " WHERE n = 1",
        params,
    ).fetchall()
    return {(r[0], r[1]): tuple(str(s) for s in json.loads(r[2])) for r in rows}


def failure_aggregates(store: Store, since: date, until: date,
                       domains: Sequence[str] | None = None) -> list[FailureAggregate]:
    """Failed sessions per policy domain, type, result type, receiving MX and organization."""
    where, params = _where(since, until, domains)
    rows = store.conn.execute(
        f"SELECT {_DOMAIN}, p.policy_type, d.result_type,"
        " nullif(rtrim(lower(trim(coalesce(d.receiving_mx_hostname, ''))), '.'), ''),"
        " r.organization, sum(d.failed_session_count), max(p.start)"
        " FROM failure_details d JOIN policies p ON p.id = d.policy_pk"
        f" JOIN reports r ON r.id = p.report_pk{where}"
        " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
        params,
    ).fetchall()
    return [
        FailureAggregate(
            domain=r[0], policy_type=r[1], result_type=r[2], mx=r[3], organization=r[4],
            sessions=int(r[5] or 0), last_day=date.fromisoformat(r[6][:10]),
        )
        for r in rows
    ]


def reporter_aggregates(store: Store, since: date, until: date,
                        domains: Sequence[str] | None = None) -> list[ReporterAggregate]:
    """Per policy domain, type and reporting organization: days reported, sessions, last day."""
    where, params = _where(since, until, domains)
    rows = store.conn.execute(
        f"SELECT {_DOMAIN}, p.policy_type, r.organization,"
        " count(DISTINCT substr(p.start, 1, 10)), sum(p.successful), sum(p.failed), max(p.start)"
        f" FROM policies p JOIN reports r ON r.id = p.report_pk{where}"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        params,
    ).fetchall()
    return [
        ReporterAggregate(
            domain=r[0], policy_type=r[1], organization=r[2], days=int(r[3]),
            successful=int(r[4] or 0), failed=int(r[5] or 0),
            last_day=date.fromisoformat(r[6][:10]),
        )
        for r in rows
    ]


#: per dialect: the SQL of a finding's field, and the set of a check's findings (rows ``j``)
_JSON: dict[str, tuple[Callable[[str], str], str]] = {
    "sqlite": (lambda name: f"json_extract(j.value, '$.{name}')",
               "json_each(c.findings_json)"),
    "postgresql": (lambda name: f"(j ->> '{name}')",
                   "json_array_elements(c.findings_json::json)"),
}


def last_check_with(store: Store, domain: str, result_type: str,
                    subjects: Sequence[str] | None) -> str | None:
    """When the newest stored check of ``domain`` that had a warning or error finding with this
    result type (and one of these subjects, when given) ran; None if none ever had one."""
    field, each = _JSON[store.dialect]
    subject_clause, params = "", [domain, result_type]
    if subjects:
        subject_clause = (
            f" AND lower({field('subject')}) IN ({','.join('?' * len(subjects))})"
        )
        params += [s.lower() for s in subjects]
    row = store.conn.execute(
        "SELECT c.checked_at FROM check_results c WHERE c.domain = ? AND EXISTS ("
        f" SELECT 1 FROM {each} j"
        f" WHERE {field('result_type')} = ?"
        f" AND {field('severity')} IN ('warning', 'error')"
        f"{subject_clause}) ORDER BY c.checked_at DESC, c.id DESC LIMIT 1",
        params,
    ).fetchone()
    return row[0] if row else None


def next_check_after(store: Store, domain: str, checked_at: str) -> str | None:
    """When the first stored check of ``domain`` after ``checked_at`` ran."""
    row = store.conn.execute(
        "SELECT checked_at FROM check_results WHERE domain = ? AND checked_at > ?"
        " ORDER BY checked_at, id LIMIT 1",
        (domain, checked_at),
    ).fetchone()
    return row[0] if row else None
