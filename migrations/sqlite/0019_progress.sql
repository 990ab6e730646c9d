-- The customer's progress page: one-time codes asked for by ticket number
-- (one row per tenant and number, kept for unknown numbers too, so a wrong
-- guess costs the same and locks the same either way), and the satisfaction
-- survey, one answer per ticket.
CREATE TABLE progress_codes (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    ticket_number TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, ticket_number)
);

CREATE TABLE csat_responses (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);
CREATE INDEX csat_responses_created ON csat_responses(tenant_id, created_at);
