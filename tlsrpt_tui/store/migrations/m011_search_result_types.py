"""Migration 011: the inbox's search text holds the failures' result types.

``/expired`` in the TUI (and ``inbox --filter expired``) found nothing: the search text held
the organization, domains, ids and contact only. Matching the failure details at query time
read every failure detail on each filter keystroke (some 14 ms more per 100,000 reports on
this project's bench store); written into ``search`` when a report is stored
(store.reports.search_text) the filter stays one read of the start index.

Upgrade: each stored report with failure details gets its distinct result types appended,
lower-cased, one per line, as search_text writes them for a new report.
"""

SQL = """
UPDATE reports SET search = search || char(10) || (
    SELECT group_concat(t, char(10)) FROM (
        SELECT DISTINCT lower(d.result_type) AS t FROM policies p
        JOIN failure_details d ON d.policy_pk = p.id
        WHERE p.report_pk = reports.id ORDER BY t))
WHERE id IN (SELECT p.report_pk FROM policies p JOIN failure_details d ON d.policy_pk = p.id)
"""

PG_SQL = """
UPDATE reports r SET search = r.search || E'\\n' || (
    SELECT string_agg(DISTINCT lower(d.result_type), E'\\n' ORDER BY lower(d.result_type))
    FROM policies p JOIN failure_details d ON d.policy_pk = p.id WHERE p.report_pk = r.id)
WHERE r.id IN (SELECT p.report_pk FROM policies p JOIN failure_details d ON d.policy_pk = p.id)
"""
