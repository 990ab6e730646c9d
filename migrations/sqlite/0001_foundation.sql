-- Foundation: tenants, people, tickets, audit log, auth, idempotency.
CREATE TABLE tenants (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ticket_seq INTEGER NOT NULL DEFAULT 0,
    audit_seq INTEGER NOT NULL DEFAULT 0,
    audit_head TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'dispatcher', 'manager', 'technician')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, email),
    UNIQUE (tenant_id, id)
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    expires_at TEXT NOT NULL,
    rotated_at TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

CREATE TABLE devices (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    platform TEXT NOT NULL,
    push_token TEXT,
    actor_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, actor_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);

CREATE TABLE technicians (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    user_id BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    skills TEXT NOT NULL,
    shifts TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    home_lat REAL,
    home_lon REAL,
    capacity INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);

CREATE TABLE customers (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    tier TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE sites (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    customer_id BLOB NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers(tenant_id, id)
);

CREATE TABLE assets (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    site_id BLOB NOT NULL,
    serial TEXT NOT NULL,
    model TEXT NOT NULL,
    warranty_end TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, serial),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);

CREATE TABLE categories (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    custom_fields_schema TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE tickets (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    number TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    required_skills TEXT NOT NULL,
    site_id BLOB NOT NULL,
    asset_id BLOB,
    tags TEXT NOT NULL,
    custom_fields TEXT NOT NULL,
    status TEXT NOT NULL,
    hold_reason TEXT,
    assignee_id BLOB,
    created_by BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- title and description lowercased by the server, for text search
    search_text TEXT NOT NULL,
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets(tenant_id, id),
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES technicians(tenant_id, id)
);
CREATE INDEX tickets_tenant_status ON tickets(tenant_id, status);
CREATE INDEX tickets_tenant_assignee ON tickets(tenant_id, assignee_id);

CREATE TABLE ticket_tags (
    ticket_id BLOB NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags(tag);

CREATE TABLE comments (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    author_id BLOB NOT NULL,
    body TEXT NOT NULL,
    visibility TEXT NOT NULL,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);
CREATE INDEX comments_ticket ON comments(ticket_id);

CREATE TABLE audit_log (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    seq INTEGER NOT NULL,
    actor_id BLOB,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id BLOB,
    before TEXT,
    after TEXT,
    at TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE idempotency_keys (
    tenant_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    content_type TEXT,
    body BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, key)
);
