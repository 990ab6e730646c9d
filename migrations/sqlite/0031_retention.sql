-- Retention (issue 19): each tenant's policy for closed tickets, media,
-- location trails and comments (NULL: keep, or the server's default for
-- locations); when a closed ticket was anonymised; failed sign-ins per
-- (account, address) pair, shared by every replica (the pair is a hash: no
-- email or address is kept).
CREATE TABLE retention_policies (
    tenant_id BLOB PRIMARY KEY REFERENCES tenants(id),
    closed_ticket_anonymise_months INTEGER,
    media_days INTEGER,
    location_days INTEGER,
    comment_days INTEGER,
    updated_at TEXT NOT NULL
);

ALTER TABLE tickets ADD COLUMN anonymised_at TEXT;

CREATE TABLE login_failures (
    pair_hash TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failed_at TEXT NOT NULL
);
CREATE INDEX login_failures_last ON login_failures(last_failed_at);
CREATE INDEX push_outbox_sent ON push_outbox(created_at) WHERE state = 'sent';
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries(delivered_at) WHERE state = 'delivered';
CREATE INDEX notify_messages_sent ON notify_messages(sent_at) WHERE state = 'sent';

-- When a closed ticket's document was last rewritten without its history.
ALTER TABLE ticket_documents ADD COLUMN squashed_at TEXT;
