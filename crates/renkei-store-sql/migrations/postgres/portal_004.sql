-- Issue 14: private delivery. Senders are screened like API clients (every
-- change an event); a person links a sender under a pairwise handle; each
-- deposited document version is one row, immutable but for the marks a
-- correction, a void and the person's first opening leave.
CREATE TABLE delivery_senders (
    id               TEXT COLLATE "C" PRIMARY KEY,
    corporate_number TEXT NOT NULL,
    name             TEXT NOT NULL,
    name_en          TEXT,
    kind             TEXT NOT NULL,
    jwks             TEXT NOT NULL, -- JSON
    document_types   TEXT NOT NULL, -- "name.vN", space-separated
    contact          TEXT NOT NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('applied', 'approved', 'rejected', 'suspended', 'revoked')),
    status_reason    TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE delivery_sender_events (
    seq                       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender                    TEXT NOT NULL REFERENCES delivery_senders (id),
    at                        BIGINT NOT NULL,
    actor                     TEXT NOT NULL, -- JSON
    action                    TEXT NOT NULL,
    from_status               TEXT,
    to_status                 TEXT NOT NULL,
    reason                    TEXT,
    previous_corporate_number TEXT
);
CREATE INDEX delivery_sender_events_sender ON delivery_sender_events (sender, seq);

CREATE TABLE delivery_links (
    sender      TEXT NOT NULL REFERENCES delivery_senders (id),
    person      TEXT NOT NULL,
    handle      TEXT NOT NULL,
    linked_at   BIGINT NOT NULL,
    unlinked_at BIGINT,
    PRIMARY KEY (sender, person),
    UNIQUE (sender, handle)
);
CREATE INDEX delivery_links_person ON delivery_links (person);

CREATE TABLE delivery_documents (
    sender        TEXT NOT NULL REFERENCES delivery_senders (id),
    document_id   TEXT NOT NULL,
    version       BIGINT NOT NULL CHECK (version > 0),
    replaces      TEXT,
    doc_type      TEXT NOT NULL,
    handle        TEXT NOT NULL,
    person        TEXT NOT NULL,
    tax_year      BIGINT NOT NULL,
    document      TEXT NOT NULL, -- JSON
    digest        BYTEA NOT NULL CHECK (length(digest) = 32),
    jws           TEXT NOT NULL,
    deposited_at  BIGINT NOT NULL,
    superseded_by TEXT,
    voided_at     BIGINT,
    void_reason   TEXT,
    opened_at     BIGINT,
    PRIMARY KEY (sender, document_id)
);
CREATE INDEX delivery_documents_person ON delivery_documents (person, tax_year);
