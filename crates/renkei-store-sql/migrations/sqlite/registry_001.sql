-- The resident registry: the only store that holds My Numbers.
CREATE TABLE residents (
    link_id       BLOB PRIMARY KEY,
    my_number     TEXT NOT NULL UNIQUE,
    resident_code TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    kana          TEXT NOT NULL,
    address       TEXT NOT NULL,
    birth_date    TEXT NOT NULL,
    sex           INTEGER NOT NULL,
    household     INTEGER NOT NULL,
    deceased_on   TEXT,
    own_code      TEXT UNIQUE,
    registered_at INTEGER NOT NULL
) STRICT;
CREATE INDEX residents_without_own_code ON residents (registered_at) WHERE own_code IS NULL;

-- Acquisition numbers are one-off per institution.
CREATE TABLE acquisitions (
    institution TEXT NOT NULL,
    number      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (institution, number)
) STRICT;

CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id BLOB NOT NULL REFERENCES residents (link_id),
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      INTEGER NOT NULL
);
