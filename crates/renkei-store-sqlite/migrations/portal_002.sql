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
