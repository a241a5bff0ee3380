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
