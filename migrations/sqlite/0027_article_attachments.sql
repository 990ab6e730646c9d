-- Files attached to knowledge-base articles (issue 22): the bytes are in
-- the blob store under `tenants/{tenant}/articles/sha256/{sha256}` (apart
-- from the media objects, so the media orphan sweep never touches them);
-- a row per attachment. The object goes when no row of the tenant names
-- its content any more.
CREATE TABLE article_attachments (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    article_id BLOB NOT NULL REFERENCES articles(id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_by BLOB,
    created_at TEXT NOT NULL
);
CREATE INDEX article_attachments_article ON article_attachments (tenant_id, article_id, created_at);
CREATE INDEX article_attachments_content ON article_attachments (tenant_id, sha256);
