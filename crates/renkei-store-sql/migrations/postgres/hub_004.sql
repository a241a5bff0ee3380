-- Pruning by index: leaf data (and record rows) below min_index may be
-- gone; `checkpoint` is the cosigned checkpoint, older than the retention
-- period and covering them, by which auditors check their age.
CREATE TABLE log_pruning (
    id         SMALLINT PRIMARY KEY CHECK (id = 0),
    min_index  BIGINT NOT NULL,
    checkpoint TEXT NOT NULL,
    pruned_at  BIGINT NOT NULL
);
-- The checkpoint published by a given time is found by time.
CREATE INDEX checkpoints_created_at ON checkpoints (created_at);
