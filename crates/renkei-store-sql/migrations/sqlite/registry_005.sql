-- Encryption at rest: whether this store seals residents' personal data
-- under a data key (renkei-crypto's at_rest), settled when the store is
-- first opened and never changed, so that clear and sealed rows are not
-- mixed. One row; key_check is the key's check value, NULL for a store
-- in clear.
CREATE TABLE data_key (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    key_check BLOB
) STRICT;

-- In an encrypted store a resident's My Number, resident record code, four
-- facts, kana and date of death are sealed together here (associated data:
-- the link id); my_number and resident_code then hold keyed blind indexes
-- (unique, looked up), the other personal columns are empty ('' and sex 0)
-- and deceased_on stays NULL. In a store in clear this is NULL.
ALTER TABLE residents ADD COLUMN sealed BLOB;
