-- Media references (issue 5): which ticket references which stored content
-- (tenants/{tenant}/sha256/{hash} in the blob store), and signatures.
CREATE TABLE media (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    has_thumbnail BOOLEAN NOT NULL DEFAULT FALSE,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    UNIQUE (tenant_id, id)
);
-- One reference per ticket, content and kind: a retried begin finds it.
CREATE UNIQUE INDEX media_ticket_content ON media (ticket_id, sha256, kind);
CREATE INDEX media_tenant_content ON media (tenant_id, sha256);
CREATE INDEX media_pending_age ON media (state, created_at);

CREATE TABLE signatures (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    media_id UUID NOT NULL REFERENCES media(id),
    signer_name TEXT NOT NULL,
    signed_at TIMESTAMPTZ NOT NULL,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    strokes TEXT NOT NULL,
    doc_heads TEXT NOT NULL,
    heads_hash TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    seal TEXT NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);
CREATE INDEX signatures_ticket ON signatures (tenant_id, ticket_id, created_at);
