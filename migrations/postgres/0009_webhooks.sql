-- Outgoing webhooks: subscriptions per tenant, and the durable delivery
-- queue written in the same transaction as the change it reports.
CREATE TABLE webhook_subscriptions (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    url TEXT NOT NULL,
    -- HMAC-SHA256 key for the signature header
    secret TEXT NOT NULL,
    -- JSON array of event types
    events JSONB NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions(tenant_id);

CREATE TABLE webhook_deliveries (
    -- enqueue order: a ticket's events are delivered in this order
    seq BIGSERIAL PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    tenant_id UUID NOT NULL,
    subscription_id UUID NOT NULL,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    ticket_id UUID,
    -- the exact JSON text sent (and signed)
    body TEXT NOT NULL,
    -- pending, delivered, dead
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES webhook_subscriptions(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
CREATE INDEX webhook_deliveries_ticket ON webhook_deliveries(subscription_id, ticket_id, seq);
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries(tenant_id, state);
