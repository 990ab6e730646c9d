-- SLA policies per tenant, and the status history the SLA clock reads.
CREATE TABLE sla_policies (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- match columns (NULL = any), copied from the body for filtering
    priority TEXT,
    customer_tier TEXT,
    category TEXT,
    -- the whole policy as JSON (targets, calendar, pauses, thresholds)
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX sla_policies_tenant ON sla_policies(tenant_id);

-- One row per status change of a ticket, written in the change's transaction.
CREATE TABLE ticket_status_history (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    hold_reason TEXT,
    PRIMARY KEY (tenant_id, ticket_id, seq),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);

-- Tickets created before this migration: their creation, and the current
-- status as of their last change (the best the old rows can tell).
INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason)
SELECT tenant_id, id, 1, created_at, 'new', NULL FROM tickets;
INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason)
SELECT tenant_id, id, 2, updated_at, status, hold_reason FROM tickets WHERE status <> 'new';
