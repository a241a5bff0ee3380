-- Cards (the card CA in the registry role): one row per card, one per
-- certificate on it. Certificates are never deleted; revoked_* mark CRL
-- entries (reason 'suspended' is a hold that resumption clears).
CREATE TABLE cards (
    card_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id      BLOB NOT NULL REFERENCES residents (link_id),
    profile      TEXT NOT NULL,
    status       TEXT NOT NULL,
    status_since INTEGER NOT NULL,
    issued_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX cards_by_link ON cards (link_id);

CREATE TABLE card_certs (
    serial         INTEGER PRIMARY KEY,
    card_id        INTEGER NOT NULL REFERENCES cards (card_id),
    purpose        TEXT NOT NULL CHECK (purpose IN ('auth', 'sign')),
    profile        TEXT NOT NULL,
    der            BLOB NOT NULL,
    issued_at      INTEGER NOT NULL,
    not_after      INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
) STRICT;
CREATE INDEX card_certs_by_card ON card_certs (card_id);
CREATE INDEX card_certs_listed ON card_certs (profile, purpose) WHERE revoked_at IS NOT NULL;

-- A version per card CA's revocation list, bumped in the transaction that
-- changes the list; the publisher signs a new CRL when it moves.
CREATE TABLE card_crls (
    profile TEXT NOT NULL,
    purpose TEXT NOT NULL,
    number  INTEGER NOT NULL,
    PRIMARY KEY (profile, purpose)
) STRICT;
