-- The back-office console (issue 16): the tenant's time zone and default
-- language, each user's language, saved queue views per user, and ticket
-- templates (prefilled create forms an admin keeps).
ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE tenants ADD COLUMN default_locale TEXT NOT NULL DEFAULT 'en';
-- NULL: the user has not chosen; the page follows the browser.
ALTER TABLE users ADD COLUMN locale TEXT;

CREATE TABLE saved_views (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    user_id BLOB NOT NULL,
    name TEXT NOT NULL,
    -- The queue's query string parameters, as the page sends them.
    query TEXT NOT NULL,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id),
    UNIQUE (tenant_id, user_id, name)
);

CREATE TABLE ticket_templates (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- The create form's fields (title, description, category, priority, tags, custom_fields, required_skills).
    fields TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
