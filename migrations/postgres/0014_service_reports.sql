-- Service reports (issue 15): every generated PDF version of a ticket's
-- report, stored in the blob store, with its verification code and hash.
CREATE TABLE service_reports (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    version BIGINT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    size BIGINT NOT NULL,
    doc_version BIGINT NOT NULL,
    input_sha256 TEXT NOT NULL,
    trigger TEXT NOT NULL,
    generated_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    UNIQUE (ticket_id, version)
);
CREATE INDEX service_reports_ticket ON service_reports (tenant_id, ticket_id, version);

-- The document version of a done ticket the report job last considered:
-- a done ticket whose document moved past it is looked at again.
CREATE TABLE service_report_checks (
    ticket_id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL,
    doc_version BIGINT NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);

-- A tenant's logo and font for its reports (blobs in the blob store).
CREATE TABLE service_report_settings (
    tenant_id UUID PRIMARY KEY REFERENCES tenants(id),
    logo_key TEXT,
    logo_content_type TEXT,
    logo_sha256 TEXT,
    font_key TEXT,
    font_sha256 TEXT,
    font_index BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL
);
