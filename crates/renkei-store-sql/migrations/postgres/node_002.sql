-- The requester's message id of each exchange: a provider answers a
-- request once, and re-arms that check from its recent records on start.
ALTER TABLE records ADD COLUMN message_id TEXT;
CREATE INDEX records_provided_recent ON records (completed_at) WHERE role = 'provider';
