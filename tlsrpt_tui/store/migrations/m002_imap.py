"""Migration 002: IMAP sync state per account and folder."""

SQL = """
CREATE TABLE IF NOT EXISTS _placeholder_002 (id INTEGER PRIMARY KEY);
DROP TABLE _placeholder_002
"""
