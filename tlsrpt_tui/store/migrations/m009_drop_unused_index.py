"""Migration 009: drop the organization index that no query reads.

Migration 001 indexed ``reports.organization`` for a sort by organization that the inbox never
got: no statement filters or orders by that column alone (the inbox searches the case-folded
``search`` text, the tables read ``reports_day``). The index cost every report insert a B-tree
update and was only ever created on SQLite (PostgreSQL's schema of 001 has none), which the
schema-parity test (tests/test_schema_parity.py) found. Dropping it makes the two backends'
schemas the same again.
"""

SQL = """
DROP INDEX IF EXISTS reports_organization
"""

PG_SQL = SQL
