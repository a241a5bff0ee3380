-- The self-information API: clients of private services and every change
-- to them (screening, suspension, revocation, transfer on a merger).
CREATE TABLE api_clients (
    id                 TEXT PRIMARY KEY,
    corporate_number   TEXT NOT NULL,
    name               TEXT NOT NULL,
    name_en            TEXT,
    purpose            TEXT NOT NULL,
    redirect_uris      TEXT NOT NULL, -- JSON array of strings
    keys               TEXT NOT NULL, -- JSON: {"jwks": …} or {"jwks_uri": …}
    auth               TEXT NOT NULL, -- JSON: {"method": …}
    items              TEXT NOT NULL, -- item codes, space-separated
    max_data_life_days INTEGER NOT NULL CHECK (max_data_life_days > 0),
    contact            TEXT NOT NULL,
    status             TEXT NOT NULL
        CHECK (status IN ('applied', 'approved', 'rejected', 'suspended', 'revoked')),
    status_reason      TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE api_client_events (
    seq                       INTEGER PRIMARY KEY AUTOINCREMENT,
    client                    TEXT NOT NULL REFERENCES api_clients (id),
    at                        INTEGER NOT NULL,
    actor                     TEXT NOT NULL, -- JSON
    action                    TEXT NOT NULL,
    from_status               TEXT,
    to_status                 TEXT NOT NULL,
    reason                    TEXT,
    previous_corporate_number TEXT
) STRICT;
CREATE INDEX api_client_events_client ON api_client_events (client, seq);

-- The flow: pushed requests, consents (grants), codes, tokens — secrets
-- only as their SHA-256 — one-time values seen, and every fetch.
CREATE TABLE oauth_requests (
    uri_digest  TEXT PRIMARY KEY,
    client      TEXT NOT NULL REFERENCES api_clients (id),
    request     TEXT NOT NULL, -- JSON
    expires_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    client         TEXT NOT NULL REFERENCES api_clients (id),
    person         TEXT NOT NULL,
    details        TEXT NOT NULL, -- the canonical authorization_details
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_by     TEXT CHECK (revoked_by IN ('person', 'client', 'server')),
    preview_digest TEXT NOT NULL,
    artefact       TEXT NOT NULL
) STRICT;
CREATE INDEX grants_person ON grants (person, created_at);

CREATE TABLE oauth_codes (
    code_digest    TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (id),
    client         TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    dpop_jkt       TEXT,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) STRICT;

CREATE TABLE access_tokens (
    token_digest TEXT PRIMARY KEY,
    grant_id     TEXT NOT NULL REFERENCES grants (id),
    client       TEXT NOT NULL,
    jkt          TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);

CREATE TABLE seen_once (
    scope      TEXT NOT NULL,
    value      TEXT NOT NULL,
    until      INTEGER NOT NULL,
    PRIMARY KEY (scope, value)
) STRICT;
CREATE INDEX seen_once_until ON seen_once (until);

CREATE TABLE api_fetches (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    client      TEXT NOT NULL,
    grant_id    TEXT,
    at          INTEGER NOT NULL,
    items       TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered', 'refused', 'failed')),
    hub_records TEXT NOT NULL -- JSON array
) STRICT;
CREATE INDEX api_fetches_grant ON api_fetches (grant_id, seq);
CREATE INDEX api_fetches_client ON api_fetches (client, at);

CREATE TABLE api_alerts (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,
    at     INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX api_alerts_client ON api_alerts (client, seq);

-- Refresh tokens of periodic consents: they rotate; a spent one used
-- again revokes the grant.
CREATE TABLE refresh_tokens (
    token_digest TEXT PRIMARY KEY,
    grant_id     TEXT NOT NULL REFERENCES grants (id),
    client       TEXT NOT NULL,
    jkt          TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
