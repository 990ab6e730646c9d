-- Master data lifecycle (issue 16): archived records stay, hidden from lists
-- and from new tickets, until restored.
ALTER TABLE customers ADD COLUMN archived_at TEXT;
ALTER TABLE sites ADD COLUMN archived_at TEXT;
ALTER TABLE assets ADD COLUMN archived_at TEXT;
ALTER TABLE categories ADD COLUMN archived_at TEXT;
ALTER TABLE sla_policies ADD COLUMN archived_at TEXT;
ALTER TABLE territories ADD COLUMN archived_at TEXT;
ALTER TABLE technicians ADD COLUMN archived_at TEXT;

-- A customer's, site's and asset's ticket history, and the queue's filters.
CREATE INDEX tickets_site ON tickets (tenant_id, site_id, id);
CREATE INDEX sites_customer ON sites (tenant_id, customer_id);

-- The search index: one entry per ticket, customer, site and asset (and,
-- later, article), written in the transaction of each write that changes
-- what the record is found by. `head` and `body` hold text folded by the
-- server (domain/search.rs: lowercase, no accents, CJK as bigrams); FTS5
-- indexes them as an external-content table kept in step by triggers.
CREATE TABLE search_entries (
    rowid INTEGER PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    id BLOB NOT NULL,
    title TEXT NOT NULL,
    subtitle TEXT NOT NULL,
    ticket_number TEXT,
    head TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (tenant_id, kind, id)
);
CREATE VIRTUAL TABLE search_fts USING fts5(
    head, body, content = 'search_entries', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN
    INSERT INTO search_fts (rowid, head, body) VALUES (new.rowid, new.head, new.body);
END;
CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, head, body) VALUES ('delete', old.rowid, old.head, old.body);
END;
CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, head, body) VALUES ('delete', old.rowid, old.head, old.body);
    INSERT INTO search_fts (rowid, head, body) VALUES (new.rowid, new.head, new.body);
END;

-- Existing records, lowercased (ASCII only here); the server folds
-- accents and CJK on the next write of each.
INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body)
SELECT t.tenant_id, 'ticket', t.id, t.title, c.name || ' · ' || s.name, t.number,
       lower(t.number || ' ' || ltrim(replace(t.number, 'TR-', ''), '0') || ' ' || t.title || ' ' || COALESCE(a.serial, '')),
       lower(t.description || ' ' || c.name || ' ' || s.name || ' ' || s.address || ' ' ||
             COALESCE((SELECT group_concat(m.body, ' ') FROM comments m WHERE m.ticket_id = t.id), ''))
FROM tickets t
JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id
JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
LEFT JOIN assets a ON a.tenant_id = t.tenant_id AND a.id = t.asset_id;
INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body)
SELECT tenant_id, 'customer', id, name, COALESCE(email, phone, ''), NULL, lower(name),
       lower(COALESCE(email, '') || ' ' || COALESCE(phone, '') || ' ' || COALESCE(contact_person, ''))
FROM customers;
INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body)
SELECT s.tenant_id, 'site', s.id, s.name, s.address, NULL, lower(s.name), lower(s.address || ' ' || c.name)
FROM sites s JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id;
INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body)
SELECT a.tenant_id, 'asset', a.id, a.serial, a.model || ' · ' || s.name, NULL, lower(a.serial), lower(a.model || ' ' || s.name)
FROM assets a JOIN sites s ON s.tenant_id = a.tenant_id AND s.id = a.site_id;
