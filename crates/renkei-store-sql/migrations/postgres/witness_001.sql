-- A witness: the last checkpoint cosigned per log, and evidence of split views.
CREATE TABLE logs (
    origin     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL CHECK (size >= 0),
    root       BYTEA NOT NULL CHECK (length(root) = 32),
    note       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE split_views (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin       TEXT NOT NULL,
    earlier_note TEXT NOT NULL,
    later_note   TEXT NOT NULL,
    at           BIGINT NOT NULL
);
