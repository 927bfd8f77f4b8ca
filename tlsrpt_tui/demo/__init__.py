"""Bundled demo data: synthetic reports ingested through the real ingest service.

``tlsrpt-tui --demo`` opens the app on a temporary store built here, so the demo needs no
network, no config and no real mail, and leaves nothing behind.
"""
