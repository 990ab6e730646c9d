-- The back-office console (issue 16): the tenant's time zone and default
-- language, each user's language, saved queue views per user, and ticket
-- templates (prefilled create forms an admin keeps).
ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE tenants ADD COLUMN default_locale TEXT NOT NULL DEFAULT 'en';
-- NULL: the user has not chosen; the page follows the browser.
ALTER TABLE users ADD COLUMN locale TEXT;

CREATE TABLE saved_views (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    user_id UUID NOT NULL,
    name TEXT NOT NULL,
    -- The queue's query string parameters, as the page sends them.
    query JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id),
    UNIQUE (tenant_id, user_id, name)
);

CREATE TABLE ticket_templates (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- The create form's fields (title, description, category, priority, tags, custom_fields, required_skills).
    fields JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);
