-- The citizen portal: card challenges, sessions (by the hash of their id),
-- staged actions awaiting the card, proxies and what was done through them.
CREATE TABLE challenges (
    code              TEXT PRIMARY KEY,
    nonce             BLOB NOT NULL,
    purpose           TEXT NOT NULL CHECK (purpose IN ('login', 'confirm')),
    action            TEXT,
    binding           BLOB NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'used')),
    person            TEXT,
    serial            INTEGER,
    profile           TEXT,
    card_status_since INTEGER
) STRICT;
CREATE INDEX challenges_expiry ON challenges (expires_at);

CREATE TABLE sessions (
    id                BLOB PRIMARY KEY,
    person            TEXT NOT NULL,
    serial            INTEGER NOT NULL,
    profile           TEXT NOT NULL,
    card_status_since INTEGER NOT NULL,
    csrf              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    acting_for        INTEGER
) STRICT;

CREATE TABLE people (
    person            TEXT PRIMARY KEY,
    serial            INTEGER NOT NULL,
    profile           TEXT NOT NULL,
    card_status_since INTEGER NOT NULL,
    last_login        INTEGER NOT NULL
) STRICT;

CREATE TABLE pending (
    id         BLOB PRIMARY KEY,
    session    BLOB NOT NULL,
    challenge  TEXT NOT NULL,
    action     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE proxies (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    principal           TEXT NOT NULL,
    representative      TEXT NOT NULL,
    principal_name      TEXT NOT NULL,
    representative_name TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    valid_from          TEXT NOT NULL,
    valid_until         TEXT NOT NULL,
    basis               TEXT NOT NULL CHECK (basis IN ('principal', 'guardianship')),
    reference           TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'on_hold', 'revoked')),
    status_at           INTEGER,
    hold_reason         TEXT,
    principal_card      INTEGER,
    representative_card INTEGER,
    confirmed_at        INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX proxies_by_principal ON proxies (principal);
CREATE INDEX proxies_by_representative ON proxies (representative);

CREATE TABLE invitations (
    code           TEXT PRIMARY KEY,
    principal      TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    principal_card INTEGER NOT NULL,
    scopes         TEXT NOT NULL,
    valid_from     TEXT NOT NULL,
    valid_until    TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE proxy_acts (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    proxy     INTEGER NOT NULL REFERENCES proxies (id),
    actor     TEXT NOT NULL,
    principal TEXT NOT NULL,
    action    TEXT NOT NULL,
    at        INTEGER NOT NULL
) STRICT;
CREATE INDEX proxy_acts_by_principal ON proxy_acts (principal, seq);
