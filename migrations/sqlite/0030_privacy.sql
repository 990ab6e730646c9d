-- Masking, erasure and access requests (issue 19, items 3 and 5).
-- A legal hold on a customer or a ticket blocks erasure.
ALTER TABLE customers ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN erased_at TEXT;
ALTER TABLE tickets ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;

-- Redactable audit payloads: the hash of an entry with a salt covers
-- sha256(salt, before, after); erasure keeps that digest and drops the rest.
ALTER TABLE audit_log ADD COLUMN payload_salt TEXT;
ALTER TABLE audit_log ADD COLUMN payload_digest TEXT;
ALTER TABLE audit_log ADD COLUMN redacted_by INTEGER;

-- Which roles see customers' phone, email and address unmasked; JSON
-- {"dispatcher": ["phone", ...], ...}. No row: the defaults.
CREATE TABLE privacy_settings (
    tenant_id BLOB PRIMARY KEY REFERENCES tenants(id),
    unmasked TEXT NOT NULL,
    erase_photos INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
