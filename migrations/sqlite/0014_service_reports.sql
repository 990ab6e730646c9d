-- Service reports (issue 15): every generated PDF version of a ticket's
-- report, stored in the blob store, with its verification code and hash.
CREATE TABLE service_reports (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    version INTEGER NOT NULL,
    code TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    size INTEGER NOT NULL,
    doc_version INTEGER NOT NULL,
    input_sha256 TEXT NOT NULL,
    trigger TEXT NOT NULL,
    generated_by BLOB,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    UNIQUE (ticket_id, version)
);
CREATE INDEX service_reports_ticket ON service_reports (tenant_id, ticket_id, version);

-- The document version of a done ticket the report job last considered:
-- a done ticket whose document moved past it is looked at again.
CREATE TABLE service_report_checks (
    ticket_id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    doc_version INTEGER NOT NULL,
    checked_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);

-- A tenant's logo and font for its reports (blobs in the blob store).
CREATE TABLE service_report_settings (
    tenant_id BLOB PRIMARY KEY REFERENCES tenants(id),
    logo_key TEXT,
    logo_content_type TEXT,
    logo_sha256 TEXT,
    font_key TEXT,
    font_sha256 TEXT,
    font_index INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
