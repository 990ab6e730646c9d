-- Push notifications: a durable outbox the push worker drains after commit.
CREATE TABLE push_outbox (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    user_id BLOB,
    device_id BLOB,
    token TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    last_error TEXT,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX push_outbox_due ON push_outbox(next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX push_outbox_token ON push_outbox(tenant_id, token) WHERE state = 'pending';
CREATE INDEX devices_push_token ON devices(tenant_id, push_token) WHERE push_token IS NOT NULL;
