-- Knowledge base (issue 22): Markdown articles with every version kept,
-- the asset models and ticket categories they apply to, "this helped"
-- votes and the public form's article views (deflections).
CREATE TABLE articles (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT NOT NULL,
    tags TEXT NOT NULL,
    asset_models TEXT NOT NULL,
    ticket_categories TEXT NOT NULL,
    visibility TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_by BLOB,
    created_at TEXT NOT NULL,
    updated_by BLOB,
    updated_at TEXT NOT NULL
);
CREATE INDEX articles_tenant ON articles (tenant_id, id);

-- Every version of an article, the current one included; a revert is a new
-- version copying an old one (`reverted_from`).
CREATE TABLE article_versions (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    article_id BLOB NOT NULL REFERENCES articles(id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT NOT NULL,
    tags TEXT NOT NULL,
    asset_models TEXT NOT NULL,
    ticket_categories TEXT NOT NULL,
    visibility TEXT NOT NULL,
    edited_by BLOB,
    edited_at TEXT NOT NULL,
    reverted_from INTEGER,
    PRIMARY KEY (article_id, version)
);

-- What an article applies to, one row per asset model or ticket category,
-- so a job's articles are an indexed lookup on both backends.
CREATE TABLE article_links (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    article_id BLOB NOT NULL REFERENCES articles(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (article_id, kind, value)
);
CREATE INDEX article_links_value ON article_links (tenant_id, kind, value);

-- "This helped": one vote per voter (a user, or a public visitor's key).
CREATE TABLE article_feedback (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    article_id BLOB NOT NULL REFERENCES articles(id),
    voter TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (article_id, voter)
);

-- A public visitor opened an article while writing a request; a view whose
-- visitor never submitted counts as a deflection.
CREATE TABLE article_views (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    article_id BLOB NOT NULL REFERENCES articles(id),
    visitor TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    submitted_at TEXT
);
CREATE INDEX article_views_visitor ON article_views (tenant_id, visitor);
CREATE INDEX article_views_article ON article_views (tenant_id, article_id);

-- Suggestions match articles only: their own FTS5 index over the article
-- entries of `search_entries` (same folded text), so a suggestion never
-- ranks the tickets' postings.
CREATE VIRTUAL TABLE article_fts USING fts5(
    head, body, content = 'search_entries', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER article_entries_ai AFTER INSERT ON search_entries WHEN new.kind = 'article' BEGIN
    INSERT INTO article_fts (rowid, head, body) VALUES (new.rowid, new.head, new.body);
END;
CREATE TRIGGER article_entries_ad AFTER DELETE ON search_entries WHEN old.kind = 'article' BEGIN
    INSERT INTO article_fts (article_fts, rowid, head, body) VALUES ('delete', old.rowid, old.head, old.body);
END;
CREATE TRIGGER article_entries_au AFTER UPDATE ON search_entries WHEN old.kind = 'article' BEGIN
    INSERT INTO article_fts (article_fts, rowid, head, body) VALUES ('delete', old.rowid, old.head, old.body);
    INSERT INTO article_fts (rowid, head, body) VALUES (new.rowid, new.head, new.body);
END;

-- A ticket merged into another (issue 22): the duplicate is cancelled,
-- its comments moved to the ticket it duplicates; reports leave it out.
CREATE TABLE ticket_merges (
    source_id BLOB PRIMARY KEY REFERENCES tickets(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    target_id BLOB NOT NULL REFERENCES tickets(id),
    comments_moved INTEGER NOT NULL,
    merged_by BLOB,
    merged_at TEXT NOT NULL
);
CREATE INDEX ticket_merges_target ON ticket_merges (tenant_id, target_id);

-- Sub-tickets (issue 22): a ticket split into children, one level deep.
CREATE TABLE ticket_children (
    child_id BLOB PRIMARY KEY REFERENCES tickets(id),
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    parent_id BLOB NOT NULL REFERENCES tickets(id),
    created_by BLOB,
    created_at TEXT NOT NULL
);
CREATE INDEX ticket_children_parent ON ticket_children (tenant_id, parent_id);
