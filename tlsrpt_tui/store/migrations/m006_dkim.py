"""Migration 006: the DKIM verdict of each mail input, decided when it arrived.

Stored with the raw input (not derived at read time) because keys rotate: a year later the
key that signed a report may be gone from DNS, and ``reparse`` must not turn a verified report
into an unverifiable one. NULL columns: the input was not mail, or it was not verified
(``import --no-dkim``). The partial index serves ``inbox --filter dkim:fail`` and the forged
marks, which look for the rare inputs that did not pass.
"""

SQL = """
ALTER TABLE raw_inputs ADD COLUMN dkim_result TEXT;
ALTER TABLE raw_inputs ADD COLUMN dkim_domain TEXT;
ALTER TABLE raw_inputs ADD COLUMN dkim_selector TEXT;
ALTER TABLE raw_inputs ADD COLUMN dkim_aligned INTEGER;
ALTER TABLE raw_inputs ADD COLUMN dkim_authserv TEXT;
CREATE INDEX raw_inputs_dkim ON raw_inputs (dkim_result, id)
    WHERE dkim_result IS NOT NULL AND dkim_result != 'pass'
"""
