-- The citizen portal: card challenges, sessions (by the hash of their id),
-- staged actions awaiting the card, proxies and what was done through them.
-- (SQLite's portal_001 and portal_002 folded into one.)
CREATE TABLE challenges (
    code              TEXT PRIMARY KEY,
    nonce             BYTEA NOT NULL CHECK (length(nonce) = 32),
    purpose           TEXT NOT NULL CHECK (purpose IN ('login', 'confirm')),
    action            TEXT,
    binding           BYTEA NOT NULL CHECK (length(binding) = 32),
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'used')),
    person            TEXT,
    serial            BIGINT,
    profile           TEXT,
    card_status_since BIGINT
);
CREATE INDEX challenges_expiry ON challenges (expires_at);

CREATE TABLE sessions (
    id                BYTEA PRIMARY KEY CHECK (length(id) = 32),
    person            TEXT NOT NULL,
    serial            BIGINT NOT NULL,
    profile           TEXT NOT NULL,
    card_status_since BIGINT NOT NULL,
    csrf              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    acting_for        BIGINT
);
-- purge
CREATE INDEX sessions_created ON sessions (created_at);

CREATE TABLE people (
    person            TEXT PRIMARY KEY,
    serial            BIGINT NOT NULL,
    profile           TEXT NOT NULL,
    card_status_since BIGINT NOT NULL,
    last_login        BIGINT NOT NULL
);

CREATE TABLE pending (
    id         BYTEA PRIMARY KEY CHECK (length(id) = 32),
    session    BYTEA NOT NULL,
    challenge  TEXT NOT NULL,
    action     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- delete_session, purge
CREATE INDEX pending_session ON pending (session);
CREATE INDEX pending_created ON pending (created_at);

CREATE TABLE proxies (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    status_at           BIGINT,
    hold_reason         TEXT,
    principal_card      BIGINT,
    representative_card BIGINT,
    confirmed_at        BIGINT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX proxies_by_principal ON proxies (principal);
CREATE INDEX proxies_by_representative ON proxies (representative);

CREATE TABLE invitations (
    code           TEXT PRIMARY KEY,
    principal      TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    principal_card BIGINT NOT NULL,
    scopes         TEXT NOT NULL,
    valid_from     TEXT NOT NULL,
    valid_until    TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
-- purge
CREATE INDEX invitations_expiry ON invitations (expires_at);

CREATE TABLE proxy_acts (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    proxy     BIGINT NOT NULL REFERENCES proxies (id),
    actor     TEXT NOT NULL,
    principal TEXT NOT NULL,
    action    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX proxy_acts_by_principal ON proxy_acts (principal, seq);

-- The self-information API: clients of private services and every change
-- to them (screening, suspension, revocation, transfer on a merger).
-- Ids are ordered byte-wise ("C"), as SQLite orders them, whatever the
-- database's collation.
CREATE TABLE api_clients (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    corporate_number   TEXT NOT NULL,
    name               TEXT NOT NULL,
    name_en            TEXT,
    purpose            TEXT NOT NULL,
    redirect_uris      TEXT NOT NULL, -- JSON array of strings
    keys               TEXT NOT NULL, -- JSON: {"jwks": …} or {"jwks_uri": …}
    auth               TEXT NOT NULL, -- JSON: {"method": …}
    items              TEXT NOT NULL, -- item codes, space-separated
    max_data_life_days BIGINT NOT NULL CHECK (max_data_life_days > 0),
    contact            TEXT NOT NULL,
    status             TEXT NOT NULL
        CHECK (status IN ('applied', 'approved', 'rejected', 'suspended', 'revoked')),
    status_reason      TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
-- clients(): ORDER BY created_at, id
CREATE INDEX api_clients_created ON api_clients (created_at, id);

CREATE TABLE api_client_events (
    seq                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client                    TEXT NOT NULL REFERENCES api_clients (id),
    at                        BIGINT NOT NULL,
    actor                     TEXT NOT NULL, -- JSON
    action                    TEXT NOT NULL,
    from_status               TEXT,
    to_status                 TEXT NOT NULL,
    reason                    TEXT,
    previous_corporate_number TEXT
);
CREATE INDEX api_client_events_client ON api_client_events (client, seq);

-- The flow: pushed requests, consents (grants), codes, tokens — secrets
-- only as their SHA-256 — one-time values seen, and every fetch.
CREATE TABLE oauth_requests (
    uri_digest  TEXT PRIMARY KEY,
    client      TEXT NOT NULL REFERENCES api_clients (id),
    request     TEXT NOT NULL, -- JSON
    expires_at  BIGINT NOT NULL,
    used        BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE grants (
    id             TEXT COLLATE "C" PRIMARY KEY,
    client         TEXT NOT NULL REFERENCES api_clients (id),
    person         TEXT NOT NULL,
    details        TEXT NOT NULL, -- the canonical authorization_details
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_by     TEXT CHECK (revoked_by IN ('person', 'client', 'server')),
    preview_digest TEXT NOT NULL,
    artefact       TEXT NOT NULL
);
CREATE INDEX grants_person ON grants (person, created_at);

CREATE TABLE oauth_codes (
    code_digest    TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (id),
    client         TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    dpop_jkt       TEXT,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

CREATE TABLE access_tokens (
    token_digest TEXT PRIMARY KEY,
    grant_id     TEXT NOT NULL REFERENCES grants (id),
    client       TEXT NOT NULL,
    jkt          TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);

-- Refresh tokens of periodic consents: they rotate; a spent one used
-- again revokes the grant.
CREATE TABLE refresh_tokens (
    token_digest TEXT PRIMARY KEY,
    grant_id     TEXT NOT NULL REFERENCES grants (id),
    client       TEXT NOT NULL,
    jkt          TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used         BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE seen_once (
    scope      TEXT NOT NULL,
    value      TEXT NOT NULL,
    until      BIGINT NOT NULL,
    PRIMARY KEY (scope, value)
);
CREATE INDEX seen_once_until ON seen_once (until);

CREATE TABLE api_fetches (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client      TEXT NOT NULL,
    grant_id    TEXT,
    at          BIGINT NOT NULL,
    items       TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'refused', 'failed')),
    hub_records TEXT NOT NULL -- JSON array
);
CREATE INDEX api_fetches_grant ON api_fetches (grant_id, seq);
CREATE INDEX api_fetches_client ON api_fetches (client, at);

CREATE TABLE api_alerts (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client TEXT NOT NULL,
    at     BIGINT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX api_alerts_client ON api_alerts (client, seq);
