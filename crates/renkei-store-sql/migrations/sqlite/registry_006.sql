-- Residence history for the statutory filing (the salary-payment report
-- goes to the municipality of residence on 1 January): the day the person
-- took up the current address (住所を定めた日; NULL for residents
-- registered before it was kept, read as the day of registration). The
-- addresses left are in the address_changed events, whose detail gains
-- the day of the move and the address left with its own start; the
-- registry reads one person's events by this index.
ALTER TABLE residents ADD COLUMN address_since TEXT;
CREATE INDEX events_by_link ON events (link_id, seq);
