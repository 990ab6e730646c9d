-- Email and web intake (issue 17): per-tenant settings, IMAP mailboxes,
-- every intake outcome, and the message ids that thread replies into tickets.
CREATE TABLE intake_settings (
    tenant_id UUID PRIMARY KEY REFERENCES tenants(id),
    -- the public form's path segment: /request/{slug}
    slug TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    -- where a ticket goes when the customer has no site of their own
    site_id UUID NOT NULL,
    -- our own addresses: mail from them is a loop and is dropped
    own_addresses JSONB NOT NULL,
    reopen_window_hours BIGINT NOT NULL,
    sender_limit_per_hour BIGINT NOT NULL,
    form_enabled BOOLEAN NOT NULL,
    -- categories offered on the form (empty: the default category only)
    form_categories JSONB NOT NULL,
    -- SHA-256 (hex) of the inbound endpoint's intake token; NULL: none issued
    token_hash TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);

CREATE TABLE intake_mailboxes (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    tls BOOLEAN NOT NULL,
    username TEXT NOT NULL,
    -- ChaCha20-Poly1305 under a key derived from the server's token secret
    password_sealed TEXT NOT NULL,
    folder TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    last_polled_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE intake_messages (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'imap', 'form')),
    mailbox_id UUID,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('processing', 'ticket', 'comment', 'dropped')),
    reason TEXT,
    ticket_id UUID,
    comment_id UUID,
    media_count BIGINT NOT NULL DEFAULT 0,
    received_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    UNIQUE (tenant_id, message_id)
);
CREATE INDEX intake_messages_sender ON intake_messages (tenant_id, sender, received_at);

-- Message ids (ours, sent, and the customers', received) naming a ticket:
-- In-Reply-To / References of a reply are looked up here.
CREATE TABLE ticket_message_ids (
    tenant_id UUID NOT NULL,
    message_id TEXT NOT NULL,
    ticket_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, message_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);
