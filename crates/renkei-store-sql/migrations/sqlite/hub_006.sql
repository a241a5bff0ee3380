-- Message ids claimed by the hub, kept until their timestamps leave the
-- skew window (then the timestamp check refuses a replay anyway), so that
-- a replay is caught across a restart too, not only by the in-memory guard.
CREATE TABLE message_claims (
    requester    TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    forget_after INTEGER NOT NULL,
    PRIMARY KEY (requester, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX message_claims_forget_after ON message_claims (forget_after);
