-- The registry's own provision records (as a provider of the four facts).
CREATE TABLE records (
    seq            INTEGER PRIMARY KEY,
    query_id       TEXT,
    role           TEXT NOT NULL CHECK (role IN ('requester', 'provider')),
    counterpart    TEXT NOT NULL,
    office_work    TEXT NOT NULL,
    item           TEXT NOT NULL,
    fiscal_year    INTEGER,
    local_id       TEXT,
    requested_at   INTEGER NOT NULL,
    completed_at   INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    non_disclosure INTEGER NOT NULL
) STRICT;
CREATE INDEX records_query ON records (query_id);
