-- A witness: the last checkpoint cosigned per log, and evidence of split views.
CREATE TABLE logs (
    origin     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE split_views (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    origin       TEXT NOT NULL,
    earlier_note TEXT NOT NULL,
    later_note   TEXT NOT NULL,
    at           INTEGER NOT NULL
);
