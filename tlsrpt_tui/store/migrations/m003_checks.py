"""Migration 003: live check results per domain over time.

One row per check run of a domain: the raw record values and the findings as JSON, so the TUI
can show what changed since the previous run and ``sts.policy.id-unchanged`` can compare the
policy body and TXT id with the last run.
"""

SQL = """
CREATE TABLE IF NOT EXISTS check_results (
    id INTEGER PRIMARY KEY,
    domain TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    status TEXT NOT NULL,
    records_json TEXT NOT NULL,
    findings_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS check_results_domain_time ON check_results (domain, checked_at, id)
"""
