-- An institution node: enrolled persons (local id ↔ institution code),
-- the items it offers, its own provision records and the notices received
-- for persons (the portal's node). No My Number. The SQLite node_001 and
-- node_002 in one. Keys that are paged or ordered by compare bytewise
-- (COLLATE "C"), as SQLite's do, whatever the database's collation.
CREATE TABLE persons (
    local_id    TEXT COLLATE "C" PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    enrolled_at BIGINT NOT NULL
);

-- fiscal_year 0 stands for "not periodic" so the primary key can cover it.
CREATE TABLE items (
    local_id    TEXT COLLATE "C" NOT NULL REFERENCES persons (local_id),
    item        TEXT NOT NULL,
    fiscal_year BIGINT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (local_id, item, fiscal_year)
);

-- Numbered densely from 0 by the node's one record writer.
CREATE TABLE records (
    seq            BIGINT PRIMARY KEY CHECK (seq >= 0),
    query_id       TEXT,
    role           TEXT NOT NULL CHECK (role IN ('requester', 'provider')),
    counterpart    TEXT NOT NULL,
    office_work    TEXT NOT NULL,
    item           TEXT NOT NULL,
    fiscal_year    BIGINT,
    local_id       TEXT,
    requested_at   BIGINT NOT NULL,
    completed_at   BIGINT NOT NULL,
    outcome        TEXT NOT NULL,
    non_disclosure BOOLEAN NOT NULL
);
CREATE INDEX records_query ON records (query_id);

CREATE TABLE notices (
    id          TEXT COLLATE "C" PRIMARY KEY,
    local_id    TEXT COLLATE "C" NOT NULL REFERENCES persons (local_id),
    sender      TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    title_ja    TEXT NOT NULL,
    body_ja     TEXT NOT NULL,
    title_en    TEXT,
    body_en     TEXT,
    sent_at     BIGINT NOT NULL,
    read_at     BIGINT
);
CREATE INDEX notices_by_person ON notices (local_id, sent_at);
