-- The resident registry: the only store that holds My Numbers. The SQLite
-- registry_001 to registry_003 in one.
CREATE TABLE residents (
    link_id       BYTEA PRIMARY KEY CHECK (length(link_id) = 16),
    my_number     TEXT NOT NULL UNIQUE,
    resident_code TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    kana          TEXT NOT NULL,
    address       TEXT NOT NULL,
    birth_date    TEXT NOT NULL,
    sex           BIGINT NOT NULL,
    household     BIGINT NOT NULL,
    deceased_on   TEXT,
    own_code      TEXT UNIQUE,
    registered_at BIGINT NOT NULL
);
CREATE INDEX residents_without_own_code ON residents (registered_at, link_id) WHERE own_code IS NULL;

-- Acquisition numbers are one-off per institution.
CREATE TABLE acquisitions (
    institution TEXT NOT NULL,
    number      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (institution, number)
);

-- Numbered from 1 in commit order (under a table lock held to the
-- commit), so that a reader paging by seq never misses one.
CREATE TABLE events (
    seq     BIGINT PRIMARY KEY CHECK (seq > 0),
    link_id BYTEA NOT NULL REFERENCES residents (link_id),
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      BIGINT NOT NULL
);

-- The registry's own provision records (as a provider of the four facts),
-- numbered densely from 0 by the registry's one record writer.
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

-- Cards (the card CA in the registry role): one row per card, one per
-- certificate on it. Certificates are never deleted; revoked_* mark CRL
-- entries (reason 'suspended' is a hold that resumption clears).
CREATE TABLE cards (
    card_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    link_id      BYTEA NOT NULL REFERENCES residents (link_id),
    profile      TEXT NOT NULL,
    status       TEXT NOT NULL,
    status_since BIGINT NOT NULL,
    issued_at    BIGINT NOT NULL
);
CREATE INDEX cards_by_link ON cards (link_id);

-- issue_order keeps certificates issued in the same millisecond in the
-- order they were stored.
CREATE TABLE card_certs (
    serial         BIGINT PRIMARY KEY CHECK (serial > 0),
    issue_order    BIGINT GENERATED ALWAYS AS IDENTITY,
    card_id        BIGINT NOT NULL REFERENCES cards (card_id),
    purpose        TEXT NOT NULL CHECK (purpose IN ('auth', 'sign')),
    profile        TEXT NOT NULL,
    der            BYTEA NOT NULL,
    issued_at      BIGINT NOT NULL,
    not_after      BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX card_certs_by_card ON card_certs (card_id, issued_at, issue_order);
CREATE INDEX card_certs_listed ON card_certs (profile, purpose, serial) WHERE revoked_at IS NOT NULL;

-- A version per card CA's revocation list, bumped in the transaction that
-- changes the list; the publisher signs a new CRL when it moves.
CREATE TABLE card_crls (
    profile TEXT NOT NULL,
    purpose TEXT NOT NULL,
    number  BIGINT NOT NULL,
    PRIMARY KEY (profile, purpose)
);
