-- The hub's institution registry, provision records and security events.
CREATE TABLE institutions (
    id              TEXT PRIMARY KEY,      -- corporate number
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    tls_certificate BLOB NOT NULL,         -- SHA-256 of the registered certificate
    signing_alg     TEXT NOT NULL,
    signing_key     BLOB NOT NULL,
    sealing_alg     TEXT NOT NULL,
    sealing_key     BLOB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    updated_at      INTEGER NOT NULL
);

-- Append-only; seq is dense from 0 and assigned by the single writer.
CREATE TABLE records (
    seq            INTEGER PRIMARY KEY,
    query_id       TEXT NOT NULL UNIQUE,
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
    non_disclosure INTEGER NOT NULL
) STRICT;
CREATE INDEX records_requested_at ON records (requested_at);
CREATE INDEX records_subject ON records (subject) WHERE subject IS NOT NULL;
CREATE INDEX records_requester ON records (requester, seq);
CREATE INDEX records_provider ON records (provider, seq);

CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    code       TEXT NOT NULL,
    peer       TEXT,
    message_id TEXT,
    detail     TEXT NOT NULL
);
