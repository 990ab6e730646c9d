-- Email and web intake (issue 17): per-tenant settings, IMAP mailboxes,
-- every intake outcome, and the message ids that thread replies into tickets.
CREATE TABLE intake_settings (
    tenant_id BLOB PRIMARY KEY REFERENCES tenants(id),
    -- the public form's path segment: /request/{slug}
    slug TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    -- where a ticket goes when the customer has no site of their own
    site_id BLOB NOT NULL,
    -- our own addresses: mail from them is a loop and is dropped
    own_addresses TEXT NOT NULL,
    reopen_window_hours INTEGER NOT NULL,
    sender_limit_per_hour INTEGER NOT NULL,
    form_enabled INTEGER NOT NULL,
    -- categories offered on the form (empty: the default category only)
    form_categories TEXT NOT NULL,
    -- SHA-256 (hex) of the inbound endpoint's intake token; NULL: none issued
    token_hash TEXT,
    updated_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);

CREATE TABLE intake_mailboxes (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    tls INTEGER NOT NULL,
    username TEXT NOT NULL,
    -- ChaCha20-Poly1305 under a key derived from the server's token secret
    password_sealed TEXT NOT NULL,
    folder TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    last_polled_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE intake_messages (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'imap', 'form')),
    mailbox_id BLOB,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('processing', 'ticket', 'comment', 'dropped')),
    reason TEXT,
    ticket_id BLOB,
    comment_id BLOB,
    media_count INTEGER NOT NULL DEFAULT 0,
    received_at TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (tenant_id, message_id)
);
CREATE INDEX intake_messages_sender ON intake_messages (tenant_id, sender, received_at);

-- Message ids (ours, sent, and the customers', received) naming a ticket:
-- In-Reply-To / References of a reply are looked up here.
CREATE TABLE ticket_message_ids (
    tenant_id BLOB NOT NULL,
    message_id TEXT NOT NULL,
    ticket_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, message_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);
