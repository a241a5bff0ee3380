-- Statutory filings at the tax agency's node: an employer's withholding
-- reports (filing_type withholding_report.v1) or monthly earnings reports
-- (monthly_earnings_filing.v1) for a tax year, kept under this node's
-- person ids (the My Numbers they were filed with are not kept). A
-- withholding report is routed to the municipality of the employee's
-- residence on 1 January after the year as a delivery (the outbox's
-- delivery_id). route: pending (residence still to ask), routed
-- (recipient, delivery_id), unroutable (reason), kept (not forwarded: the
-- monthly reports). Reports are sealed in an encrypted store.
CREATE TABLE filings (
    filing_id   TEXT PRIMARY KEY,
    filing_type TEXT NOT NULL,
    payer       TEXT NOT NULL,
    tax_year    BIGINT NOT NULL,
    digest      TEXT NOT NULL,
    reports     BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE filed_reports (
    filing_id   TEXT NOT NULL REFERENCES filings (filing_id),
    line        BIGINT NOT NULL,
    local_id    TEXT NOT NULL REFERENCES persons (local_id),
    report      TEXT NOT NULL,
    route       TEXT NOT NULL CHECK (route IN ('pending', 'routed', 'unroutable', 'kept')),
    recipient   TEXT,
    delivery_id TEXT,
    reason      TEXT,
    PRIMARY KEY (filing_id, line)
);
CREATE INDEX filed_reports_pending ON filed_reports (filing_id, line) WHERE route = 'pending';
