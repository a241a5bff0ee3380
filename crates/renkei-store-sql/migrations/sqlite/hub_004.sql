-- The leaf's commitment to the consent an exchange relied on; the grant id
-- itself (`consent`) stays in the hub's own record, out of the log.
ALTER TABLE records ADD COLUMN consent_commitment BLOB;
