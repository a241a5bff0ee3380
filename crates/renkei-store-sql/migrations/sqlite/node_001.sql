-- An institution node: enrolled persons (local id ↔ institution code),
-- the items it offers, and its own provision records. No My Number.
CREATE TABLE persons (
    local_id    TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    enrolled_at INTEGER NOT NULL
) STRICT;

-- fiscal_year 0 stands for "not periodic" so the primary key can cover it.
CREATE TABLE items (
    local_id    TEXT NOT NULL REFERENCES persons (local_id),
    item        TEXT NOT NULL,
    fiscal_year INTEGER NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (local_id, item, fiscal_year)
) STRICT;

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
