-- Outgoing webhooks: subscriptions per tenant, and the durable delivery
-- queue written in the same transaction as the change it reports.
CREATE TABLE webhook_subscriptions (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    url TEXT NOT NULL,
    -- HMAC-SHA256 key for the signature header
    secret TEXT NOT NULL,
    -- JSON array of event types
    events TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions(tenant_id);

CREATE TABLE webhook_deliveries (
    -- enqueue order: a ticket's events are delivered in this order
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    tenant_id BLOB NOT NULL,
    subscription_id BLOB NOT NULL,
    event_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    ticket_id BLOB,
    -- the exact JSON text sent (and signed)
    body TEXT NOT NULL,
    -- pending, delivered, dead
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES webhook_subscriptions(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
CREATE INDEX webhook_deliveries_ticket ON webhook_deliveries(subscription_id, ticket_id, seq);
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries(tenant_id, state);
