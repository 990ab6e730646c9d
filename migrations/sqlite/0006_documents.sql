-- Ticket documents (issue 3): a compacted snapshot plus incremental chunks,
-- per-(device, ticket) sync states, and the projection columns on tickets.
CREATE TABLE ticket_documents (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL PRIMARY KEY,
    snapshot BLOB NOT NULL,
    incremental_bytes INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);

CREATE TABLE ticket_document_chunks (
    ticket_id BLOB NOT NULL REFERENCES ticket_documents(ticket_id),
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);

CREATE TABLE device_sync_states (
    tenant_id BLOB NOT NULL,
    device_id BLOB NOT NULL REFERENCES devices(id),
    ticket_id BLOB NOT NULL REFERENCES ticket_documents(ticket_id),
    state BLOB NOT NULL,
    PRIMARY KEY (device_id, ticket_id)
);

ALTER TABLE tickets ADD COLUMN accepted_at TEXT;
ALTER TABLE tickets ADD COLUMN arrived_at TEXT;
ALTER TABLE tickets ADD COLUMN completed_at TEXT;
ALTER TABLE tickets ADD COLUMN field_photo_count INTEGER;
ALTER TABLE tickets ADD COLUMN field_part_count INTEGER;
ALTER TABLE tickets ADD COLUMN field_updated_at TEXT;
