"""Pure validators of the live checks: records, policies, MX sets and TLSA RRsets → findings.

Nothing here does I/O: net/ fetches the raw data, service/checks.py orchestrates, and these
modules turn the raw values into the finding codes of ../shared/spec/checks.md.
"""
