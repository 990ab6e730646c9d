-- SLA warnings and breaches that fired: one row per (ticket, target, kind,
-- threshold), ever. The primary key makes firing exactly-once across
-- restarts and replicas; the row is written in the transaction that carries
-- the escalation's effects.
CREATE TABLE sla_notices (
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- the warning percentage; 100 for a breach
    threshold INTEGER NOT NULL,
    policy_id UUID NOT NULL,
    due_at TIMESTAMPTZ NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    -- what the escalation did, for the record
    actions JSONB NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id, target, kind, threshold),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);

-- The SLA timers pick up changed tickets by their version.
CREATE INDEX tickets_updated_at ON tickets(updated_at);
