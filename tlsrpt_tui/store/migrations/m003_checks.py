"""Migration 003: live check results per domain over time."""

SQL = """
CREATE TABLE IF NOT EXISTS _placeholder_003 (id INTEGER PRIMARY KEY);
DROP TABLE _placeholder_003
"""
