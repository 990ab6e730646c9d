-- Offers to technicians, and auto-dispatch policies per category.
CREATE TABLE dispatch_policies (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    category TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('off', 'offer_best', 'offer_in_turn')),
    top_n BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, category)
);

CREATE TABLE offers (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    technician_id UUID NOT NULL,
    round BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')),
    reason TEXT,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, technician_id) REFERENCES technicians(tenant_id, id)
);
-- At most one open offer per ticket, whoever creates it.
CREATE UNIQUE INDEX offers_one_pending_per_ticket ON offers(ticket_id) WHERE state = 'pending';
CREATE INDEX offers_due ON offers(state, expires_at);
CREATE INDEX offers_technician ON offers(technician_id, state);
