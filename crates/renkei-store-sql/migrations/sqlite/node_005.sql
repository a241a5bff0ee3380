-- Deliveries (pushes of a document of an item about a person to another
-- institution). The outbox keeps what this node's business system asked
-- to deliver, before anything is sent, until the receiver accepted it or
-- the hub or the receiver refused it for good; the inbox keeps what other
-- institutions delivered here, once per sender and delivery id, numbered
-- in the order it was kept (inbox_seq hands out the numbers under the
-- write lock, so a reader paging by seq never misses a row). fiscal_year
-- 0 stands for "not periodic". Documents are sealed in an encrypted store.
CREATE TABLE outbox (
    delivery_id     TEXT PRIMARY KEY,
    local_id        TEXT NOT NULL REFERENCES persons (local_id),
    recipient       TEXT NOT NULL,
    office_work     TEXT NOT NULL,
    item            TEXT NOT NULL,
    fiscal_year     INTEGER NOT NULL,
    document        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'refused')),
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    query_id        TEXT,
    refusal_code    TEXT,
    settled_at      INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE inbox (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
    sender      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    local_id    TEXT NOT NULL REFERENCES persons (local_id),
    office_work TEXT NOT NULL,
    item        TEXT NOT NULL,
    fiscal_year INTEGER NOT NULL,
    document    TEXT NOT NULL,
    query_id    TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (sender, delivery_id)
) STRICT;

CREATE TABLE inbox_seq (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    next INTEGER NOT NULL
) STRICT;
INSERT INTO inbox_seq (id, next) VALUES (1, 1);
