-- Query ids are random 128-bit values, never looked up by the hub: a unique
-- index on them cost a random B-tree insert per record (a third of the
-- append time) for nothing. Rebuild the table without it.
CREATE TABLE records_new (
    seq            INTEGER PRIMARY KEY,
    query_id       TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    request_digest BLOB NOT NULL,
    requester      TEXT NOT NULL,
    provider       TEXT NOT NULL,
    office_work    TEXT NOT NULL,
    item           TEXT NOT NULL,
    fiscal_year    INTEGER,
    table_version  TEXT,
    row_id         TEXT,
    subject        BLOB,
    requested_at   INTEGER NOT NULL,
    provided_at    INTEGER,
    outcome        TEXT NOT NULL,
    non_disclosure INTEGER NOT NULL,
    commitment     BLOB,
    consent        TEXT,
    hidden_until   INTEGER,
    hidden_reason  TEXT
) STRICT;
INSERT INTO records_new SELECT * FROM records;
DROP TABLE records;
ALTER TABLE records_new RENAME TO records;
CREATE INDEX records_requested_at ON records (requested_at);
CREATE INDEX records_subject ON records (subject) WHERE subject IS NOT NULL;
CREATE INDEX records_requester ON records (requester, seq);
CREATE INDEX records_provider ON records (provider, seq);
