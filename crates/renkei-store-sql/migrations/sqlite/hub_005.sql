-- The registered certificate itself (DER), not only its fingerprint: the
-- hub hands it to institutions that push to this one, which verify it
-- against the network CA and take the certified keys from it. Empty for
-- institutions registered before; they register again to receive pushes.
ALTER TABLE institutions ADD COLUMN certificate BLOB NOT NULL DEFAULT X'';
