-- SQLite's search candidates are already the newest (the FTS rowid).

-- The queue sorted by priority (`sort=priority`): P1 first, oldest first.
CREATE INDEX tickets_tenant_priority ON tickets (tenant_id, priority, id);
