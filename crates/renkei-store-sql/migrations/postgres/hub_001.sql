-- The hub on PostgreSQL: several hub processes share these tables and
-- serve one transparency log. Appends serialise on the single `log_state`
-- row (SELECT … FOR UPDATE), so sequence numbers stay dense with no gap,
-- fork or reuse whichever hub appends.

CREATE TABLE institutions (
    id              TEXT PRIMARY KEY,      -- corporate number
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    tls_certificate BYTEA NOT NULL,        -- SHA-256 of the registered certificate
    signing_alg     TEXT NOT NULL,
    signing_key     BYTEA NOT NULL,
    sealing_alg     TEXT NOT NULL,
    sealing_key     BYTEA NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    updated_at      BIGINT NOT NULL
);

-- The log's size; the row every append locks.
CREATE TABLE log_state (
    id   SMALLINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO log_state (id, size) VALUES (1, 0);

-- Append-only; seq is the leaf index.
CREATE TABLE records (
    seq            BIGINT PRIMARY KEY,
    query_id       TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    request_digest BYTEA NOT NULL,
    requester      TEXT NOT NULL,
    provider       TEXT NOT NULL,
    office_work    TEXT NOT NULL,
    item           TEXT NOT NULL,
    fiscal_year    BIGINT,
    table_version  TEXT,
    row_id         TEXT,
    subject        BYTEA,
    requested_at   BIGINT NOT NULL,
    provided_at    BIGINT,
    outcome        TEXT NOT NULL,
    non_disclosure BOOLEAN NOT NULL,
    commitment     BYTEA,
    consent        TEXT,
    hidden_until   BIGINT,
    hidden_reason  TEXT
);
CREATE INDEX records_requested_at ON records (requested_at);
-- A person's history is `subject = ? ORDER BY seq LIMIT n`: one index
-- range, whatever the size of the log.
CREATE INDEX records_subject ON records (subject, seq) WHERE subject IS NOT NULL;
CREATE INDEX records_requester ON records (requester, seq);
CREATE INDEX records_provider ON records (provider, seq);

CREATE TABLE security_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    code       TEXT NOT NULL,
    peer       TEXT,
    message_id TEXT,
    detail     TEXT NOT NULL
);

CREATE TABLE log_leaves (
    seq       BIGINT PRIMARY KEY,
    leaf_hash BYTEA NOT NULL,
    leaf      BYTEA
);

CREATE TABLE log_nodes (
    level SMALLINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE checkpoints (
    size       BIGINT PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE person_tokens (
    token_hash BYTEA PRIMARY KEY,
    subject    BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- Message ids claimed by any hub, kept until their timestamps leave the
-- skew window (then the timestamp check refuses a replay anyway).
CREATE TABLE message_claims (
    requester    TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    forget_after BIGINT NOT NULL,
    PRIMARY KEY (requester, message_id)
);
CREATE INDEX message_claims_forget_after ON message_claims (forget_after);
