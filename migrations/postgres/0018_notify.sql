-- Customer notifications: language and per-channel opt-out on the customer,
-- and one durable outbox row per (event, channel), written in the same
-- transaction as the change that causes it.
ALTER TABLE customers ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE customers ADD COLUMN email_opt_out BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN sms_opt_out BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE notify_messages (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    ticket_id UUID NOT NULL,
    customer_id UUID NOT NULL,
    event TEXT NOT NULL,
    -- The event plus what makes it distinct (a technician, a comment): one message per key and channel.
    event_key TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient TEXT NOT NULL,
    locale TEXT NOT NULL,
    context JSONB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    last_status INTEGER,
    last_error TEXT,
    subject TEXT,
    body TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    UNIQUE (tenant_id, ticket_id, channel, event_key),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id)
);
CREATE INDEX notify_messages_due ON notify_messages(channel, next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX notify_messages_ticket ON notify_messages(tenant_id, ticket_id, created_at);

-- A tenant's own wording for one event, language and channel (else the embedded default).
CREATE TABLE notify_templates (
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    event TEXT NOT NULL,
    locale TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event, locale, channel)
);
