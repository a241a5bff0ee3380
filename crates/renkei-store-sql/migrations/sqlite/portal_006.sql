-- Issue 14: what the sender's feed needs (the reference a person gives
-- when linking, when a link last changed, receipts by time) and the
-- person's deletion of a document from their mailbox.
ALTER TABLE delivery_links ADD COLUMN reference TEXT;
ALTER TABLE delivery_links ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
UPDATE delivery_links SET changed_at = COALESCE(unlinked_at, linked_at);
CREATE INDEX delivery_links_changes ON delivery_links (sender, changed_at);

ALTER TABLE delivery_documents ADD COLUMN deleted_at INTEGER;
CREATE INDEX delivery_documents_receipts ON delivery_documents (sender, opened_at)
    WHERE opened_at IS NOT NULL;
