"""Migration 001: reports, policies, failure details and the raw inputs they came from.

Design notes (why the schema looks like this):

- ``raw_inputs`` keeps every report or rejected input's bytes (zlib) with where they came from,
  so nothing is untraceable and ``reparse`` can re-derive everything with a newer parser.
  ``origin_key`` is one text that names the origin (file path, or account/folder/UIDVALIDITY/UID);
  UNIQUE(sha256, origin_key) stops the same bytes from the same place being stored twice while
  NULL-free (a UNIQUE over nullable origin columns would not de-duplicate).
- ``reports`` carries denormalised sums and the inbox's display columns (policy domains and
  types, a case-folded ``search`` text) so the inbox, the tables and the totals never aggregate
  policies at read time; with 100,000s of reports the inbox pages straight off an index. The
  start index also holds ``search`` so a text filter scans the index, not the table, in date
  order (a rare match costs ~20 ms at 100,000 reports instead of ~130 ms of row look-ups).
- ``policies.start`` repeats the report's start so the per-domain totals and daily charts read
  one covering index (policy_domain, start, counts) without joining reports.
- Datetimes are ISO 8601 UTC text (``2026-05-11T00:00:00+00:00``): they sort as text, the
  first ten characters are the UTC date, and they equal ``Report.dedup_key``'s spelling.
- The de-duplication key is UNIQUE(dedup_who, report_id, start, end) with dedup_who =
  lower(organization, else submitter), as in ``Report.dedup_key``.
"""

SQL = """
CREATE TABLE raw_inputs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    origin_kind TEXT NOT NULL,
    origin_path TEXT,
    origin_account TEXT,
    origin_folder TEXT,
    origin_uidvalidity INTEGER,
    origin_uid INTEGER,
    origin_key TEXT NOT NULL,
    sha256 BLOB NOT NULL,
    size INTEGER NOT NULL,
    data_zlib BLOB NOT NULL,
    received_at TEXT,
    imported_at TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    part_errors TEXT NOT NULL DEFAULT '[]',
    parser_version TEXT NOT NULL,
    UNIQUE (sha256, origin_key)
);
CREATE INDEX raw_inputs_rejected ON raw_inputs (id DESC) WHERE status = 'rejected';
CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    input_id INTEGER NOT NULL REFERENCES raw_inputs (id) ON DELETE CASCADE,
    input_index INTEGER NOT NULL DEFAULT 0,
    organization TEXT NOT NULL,
    contact TEXT,
    report_id TEXT NOT NULL,
    subject_report_id TEXT,
    report_domain TEXT,
    submitter TEXT,
    dedup_who TEXT NOT NULL,
    start TEXT NOT NULL,
    "end" TEXT NOT NULL,
    generated_at TEXT,
    notes TEXT NOT NULL DEFAULT '[]',
    successful INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    policy_domains TEXT NOT NULL,
    policy_types TEXT NOT NULL,
    search TEXT NOT NULL,
    UNIQUE (dedup_who, report_id, start, "end")
);
CREATE INDEX reports_start ON reports (start DESC, id DESC, search);
CREATE INDEX reports_organization ON reports (organization COLLATE NOCASE);
CREATE INDEX reports_input ON reports (input_id);
CREATE TABLE policies (
    id INTEGER PRIMARY KEY,
    report_pk INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    policy_type TEXT NOT NULL,
    policy_type_raw TEXT NOT NULL,
    policy_domain TEXT NOT NULL COLLATE NOCASE,
    start TEXT NOT NULL,
    policy_strings TEXT NOT NULL,
    mx_hosts TEXT NOT NULL,
    successful INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    detail_failed INTEGER NOT NULL,
    UNIQUE (report_pk, ordinal)
);
CREATE INDEX policies_domain ON policies (policy_domain, start, successful, failed, report_pk);
CREATE TABLE failure_details (
    id INTEGER PRIMARY KEY,
    policy_pk INTEGER NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    result_type TEXT NOT NULL,
    failed_session_count INTEGER NOT NULL,
    sending_mta_ip TEXT,
    receiving_mx_hostname TEXT,
    receiving_mx_helo TEXT,
    receiving_ip TEXT,
    additional_information TEXT,
    failure_reason_code TEXT,
    UNIQUE (policy_pk, ordinal)
)
"""
