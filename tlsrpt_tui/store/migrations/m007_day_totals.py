"""Migration 007: session totals per day, maintained with every report write.

At 1,000,000 reports, summing the reports or policies of a table's filter took seconds (the
Total row) and the dashboard's 30-day charts scanned every report of the window. These tables
hold the sums per UTC day instead, so a Total or a chart reads O(days x domains) rows:

- ``policy_days``: per day, policy domain (as stored, compared case-insensitively by the
  readers) and forged flag: the number of policies and their session sums. The Policy Summary's
  Total, the per-domain charts and the busiest domains read it.
- ``report_days``: per day, domain set and forged flag: the number of reports and the sums of
  their sessions. A report counts once, under the set of its distinct policy domains
  (``domain_sets``, its members in ``domain_set_members``), so the Report Overview's Total for
  "reports with a policy whose domain contains X" is exact even when a report names two
  matching domains. The all-domains chart reads it too.
- ``forged`` (the report's mail failed DKIM) is part of each key so a reader can leave forged
  reports out of its sums; ``reparse --reverify`` moves a report between the two.

``store/totals.py`` keeps them in step inside the same transaction as each insert, re-parse,
deletion and DKIM verdict change. A day's sum that no longer fits in 64 bits (only a hostile
report can do that) is stored as a REAL; readers then fall back to summing the rows.
Existing stores are filled here from their reports (the domain set's key is the JSON array of
its sorted distinct domains; ``total()`` instead of ``sum()`` because ``sum()`` raises on an
overflow, which would make the upgrade fail).
"""

SQL = """
CREATE TABLE domain_sets (
    id INTEGER PRIMARY KEY,
    domains TEXT NOT NULL UNIQUE
);
CREATE TABLE domain_set_members (
    set_id INTEGER NOT NULL REFERENCES domain_sets (id),
    domain TEXT NOT NULL,
    PRIMARY KEY (set_id, domain)
) WITHOUT ROWID;
CREATE INDEX domain_set_members_domain ON domain_set_members (domain COLLATE NOCASE, set_id);
CREATE TABLE report_days (
    day TEXT NOT NULL,
    set_id INTEGER NOT NULL REFERENCES domain_sets (id),
    forged INTEGER NOT NULL,
    reports INTEGER NOT NULL,
    successful INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (day, set_id, forged)
) WITHOUT ROWID;
CREATE TABLE policy_days (
    day TEXT NOT NULL,
    policy_domain TEXT NOT NULL,
    forged INTEGER NOT NULL,
    policies INTEGER NOT NULL,
    successful INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (day, policy_domain, forged)
) WITHOUT ROWID;
CREATE INDEX policy_days_domain ON policy_days (policy_domain COLLATE NOCASE, day);
CREATE TEMP TABLE report_sets AS
    SELECT r.id AS report_pk, substr(r.start, 1, 10) AS day,
           coalesce(i.dkim_result = 'fail', 0) AS forged, r.successful, r.failed,
           (SELECT json_group_array(d) FROM (SELECT DISTINCT policy_domain COLLATE BINARY AS d
                                             FROM policies WHERE report_pk = r.id ORDER BY 1))
               AS domains
    FROM reports r JOIN raw_inputs i ON i.id = r.input_id;
INSERT INTO domain_sets (domains) SELECT DISTINCT domains FROM report_sets;
INSERT INTO domain_set_members (set_id, domain)
    SELECT DISTINCT s.id, j.value FROM domain_sets s, json_each(s.domains) j;
INSERT INTO report_days (day, set_id, forged, reports, successful, failed)
    SELECT t.day, s.id, t.forged, count(*),
           CASE WHEN total(t.successful) < 9007199254740992
                THEN CAST(total(t.successful) AS INTEGER) ELSE total(t.successful) END,
           CASE WHEN total(t.failed) < 9007199254740992
                THEN CAST(total(t.failed) AS INTEGER) ELSE total(t.failed) END
    FROM report_sets t JOIN domain_sets s ON s.domains = t.domains
    GROUP BY t.day, s.id, t.forged;
INSERT INTO policy_days (day, policy_domain, forged, policies, successful, failed)
    SELECT substr(p.start, 1, 10), p.policy_domain COLLATE BINARY, t.forged, count(*),
           CASE WHEN total(p.successful) < 9007199254740992
                THEN CAST(total(p.successful) AS INTEGER) ELSE total(p.successful) END,
           CASE WHEN total(p.failed) < 9007199254740992
                THEN CAST(total(p.failed) AS INTEGER) ELSE total(p.failed) END
    FROM policies p JOIN report_sets t ON t.report_pk = p.report_pk
    GROUP BY 1, 2, 3;
DROP TABLE report_sets
"""
