-- Notices received for persons (the portal's node).
CREATE TABLE notices (
    id          TEXT PRIMARY KEY,
    local_id    TEXT NOT NULL REFERENCES persons (local_id),
    sender      TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    title_ja    TEXT NOT NULL,
    body_ja     TEXT NOT NULL,
    title_en    TEXT,
    body_en     TEXT,
    sent_at     INTEGER NOT NULL,
    read_at     INTEGER
) STRICT;
CREATE INDEX notices_by_person ON notices (local_id, sent_at);
