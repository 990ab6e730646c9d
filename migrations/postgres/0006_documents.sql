-- Ticket documents (issue 3): a compacted snapshot plus incremental chunks,
-- per-(device, ticket) sync states, and the projection columns on tickets.
CREATE TABLE ticket_documents (
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL PRIMARY KEY,
    snapshot BYTEA NOT NULL,
    incremental_bytes BIGINT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);

CREATE TABLE ticket_document_chunks (
    ticket_id UUID NOT NULL REFERENCES ticket_documents(ticket_id),
    seq BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);

CREATE TABLE device_sync_states (
    tenant_id UUID NOT NULL,
    device_id UUID NOT NULL REFERENCES devices(id),
    ticket_id UUID NOT NULL REFERENCES ticket_documents(ticket_id),
    state BYTEA NOT NULL,
    PRIMARY KEY (device_id, ticket_id)
);

ALTER TABLE tickets ADD COLUMN accepted_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN arrived_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN completed_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN field_photo_count BIGINT;
ALTER TABLE tickets ADD COLUMN field_part_count BIGINT;
ALTER TABLE tickets ADD COLUMN field_updated_at TIMESTAMPTZ;
