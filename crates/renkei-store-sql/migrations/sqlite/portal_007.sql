-- Issue 14: public senders' documents come through the network: each keeps
-- the hub's record of the push that carried it, and the portal remembers
-- how far it has read its node's inbox and sent
-- their receipts.
ALTER TABLE delivery_documents ADD COLUMN network_record TEXT;

CREATE TABLE delivery_network_cursors (
    name  TEXT PRIMARY KEY CHECK (name IN ('inbox', 'receipts')),
    reached INTEGER NOT NULL CHECK (reached >= 0)
) STRICT;
