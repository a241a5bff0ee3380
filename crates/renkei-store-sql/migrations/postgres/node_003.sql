-- Encryption at rest: whether this store seals item values and notice
-- texts under a data key (renkei-crypto's at_rest), settled when the store
-- is first opened and never changed, so that clear and sealed rows are not
-- mixed. One row; key_check is the key's check value, NULL for a store
-- in clear.
CREATE TABLE data_key (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    key_check BYTEA
);
