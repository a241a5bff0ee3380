-- Issue 11: one-time consents are delivered at most once. A delivery is
-- claimed (one row per grant, inserted atomically) before anything is
-- gathered; a failed one is released (the row deleted), a done one stays
-- 'delivered' for good. Grants delivered before this migration count as
-- delivered.
CREATE TABLE grant_deliveries (
    grant_id     TEXT PRIMARY KEY REFERENCES grants (id),
    state        TEXT NOT NULL CHECK (state IN ('claimed', 'delivered')),
    claim        TEXT NOT NULL,
    claimed_at   INTEGER NOT NULL,
    delivered_at INTEGER
) STRICT;
INSERT INTO grant_deliveries (grant_id, state, claim, claimed_at, delivered_at)
    SELECT grant_id, 'delivered', '', MIN(at), MIN(at) FROM api_fetches
    WHERE outcome = 'delivered' AND grant_id IS NOT NULL
      AND grant_id IN (SELECT id FROM grants)
    GROUP BY grant_id;

-- Issue 11, item 7: a challenge records the asking browser's address and,
-- for a login, the number its page shows (which the card must sign); a
-- challenge signed with another number is 'refused'. Challenges live for
-- minutes: the table is made anew rather than altered.
DROP TABLE challenges;
CREATE TABLE challenges (
    code              TEXT PRIMARY KEY,
    nonce             BLOB NOT NULL,
    purpose           TEXT NOT NULL CHECK (purpose IN ('login', 'confirm')),
    action            TEXT,
    binding           BLOB NOT NULL,
    browser           TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    match_value       TEXT CHECK (match_value IS NULL OR length(match_value) = 2),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'used', 'refused')),
    person            TEXT,
    serial            INTEGER,
    profile           TEXT,
    card_status_since INTEGER
) STRICT;
CREATE INDEX challenges_expiry ON challenges (expires_at);
