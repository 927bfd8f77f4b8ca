"""Migration 005: the Overview and Policy Summary in their order straight from an index.

Both tables list rows by report day, then report, then policy. Without an index in that order,
SQLite sorted every row (a temporary B-tree over 1,000,000 reports) before it could return the
first one, so a table opened on a big store showed nothing for seconds and a CSV export held
the sort. These indices hold the day expression, the counts and the start itself (SQLite uses an
expression index as covering only when the column is there too), so the keys, the Total and a
day-bounded scan (the dashboard's busiest domains of the last 30 days) read the index alone.
"""

SQL = """
CREATE INDEX reports_day ON reports (substr(start, 1, 10), id, successful, failed, start);
CREATE INDEX policies_day ON policies (substr(start, 1, 10), report_pk, ordinal, successful,
                                       failed, policy_domain, start)
"""
