"""Migration 012: drop the (account, digest) index of IMAP raw inputs.

Migration 002 made ``raw_inputs_imap_sha`` for the sync's question "which of this batch's
digests does this account hold already" (store.imap_state.known_input_statuses). On
PostgreSQL it was the wrong road: without statistics (a new or fast-growing store that
autovacuum has not analyzed yet) the planner took the index for the account alone and
compared every row of it with the batch's 500 digests, a cost that grew with the store
(62 ms a query at 10,000 mails, more than storing the batch; bench/README.md). The
question now starts from the digest, in the unique (sha256, origin_key) index, on both
backends, so this index is read by nothing and only cost every IMAP mail's insert a B-tree
update.
"""

SQL = """
DROP INDEX IF EXISTS raw_inputs_imap_sha
"""

PG_SQL = SQL
