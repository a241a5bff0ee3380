-- The transparency log: leaves with their hashes (leaf data is pruned after
-- the retention period, hashes never are), stored tree nodes of every
-- fourth level, signed checkpoints, and person access tokens.
ALTER TABLE records ADD COLUMN commitment BLOB;
ALTER TABLE records ADD COLUMN consent TEXT;
ALTER TABLE records ADD COLUMN hidden_until INTEGER;
ALTER TABLE records ADD COLUMN hidden_reason TEXT;

CREATE TABLE log_leaves (
    seq       INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL,
    leaf      BLOB
) STRICT;

CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE person_tokens (
    token_hash BLOB PRIMARY KEY,
    subject    BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
