-- SLA outcomes on write (issue 18, item 5): see the PostgreSQL migration.
-- Every change that can move a ticket's SLA verdict marks the ticket here in
-- its own transaction; the maintainer recomputes and unmarks.
CREATE TABLE sla_outcome_dirty (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    mark INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id)
);
-- The marks' counter: a ticket's mark never takes a value it had before (a
-- writer holding an old mark cannot clear a newer one).
CREATE TABLE sla_outcome_mark_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO sla_outcome_mark_counter (id, value) VALUES (1, 1);

CREATE INDEX sla_outcomes_valid_until ON sla_outcomes (tenant_id, valid_until_us)
    WHERE valid_until_us IS NOT NULL;

CREATE TRIGGER tickets_sla_insert AFTER INSERT ON tickets BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (NEW.tenant_id, NEW.id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER tickets_sla_update AFTER UPDATE OF priority, category, site_id, created_at ON tickets
WHEN OLD.priority IS NOT NEW.priority OR OLD.category IS NOT NEW.category
    OR OLD.site_id IS NOT NEW.site_id OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (NEW.tenant_id, NEW.id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;

CREATE TRIGGER status_history_sla_insert AFTER INSERT ON ticket_status_history BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (NEW.tenant_id, NEW.ticket_id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER status_history_sla_update AFTER UPDATE ON ticket_status_history BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (NEW.tenant_id, NEW.ticket_id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER status_history_sla_delete AFTER DELETE ON ticket_status_history BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (OLD.tenant_id, OLD.ticket_id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;

CREATE TRIGGER approval_requests_sla_insert AFTER INSERT ON approval_requests BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (NEW.tenant_id, NEW.ticket_id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER approval_requests_sla_update AFTER UPDATE ON approval_requests BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (NEW.tenant_id, NEW.ticket_id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER approval_requests_sla_delete AFTER DELETE ON approval_requests BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) VALUES (OLD.tenant_id, OLD.ticket_id, (SELECT value FROM sla_outcome_mark_counter))
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;

-- A policy change can move every ticket of the tenant. (An upsert after a
-- SELECT needs the SELECT's WHERE clause in SQLite's grammar: each has one.)
CREATE TRIGGER sla_policies_sla_insert AFTER INSERT ON sla_policies BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark)
    SELECT tenant_id, id, (SELECT value FROM sla_outcome_mark_counter) FROM tickets WHERE tenant_id = NEW.tenant_id
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER sla_policies_sla_update AFTER UPDATE ON sla_policies BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark)
    SELECT tenant_id, id, (SELECT value FROM sla_outcome_mark_counter) FROM tickets WHERE tenant_id = NEW.tenant_id
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER sla_policies_sla_delete AFTER DELETE ON sla_policies BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark)
    SELECT tenant_id, id, (SELECT value FROM sla_outcome_mark_counter) FROM tickets WHERE tenant_id = OLD.tenant_id
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;

CREATE TRIGGER customers_sla_tier AFTER UPDATE OF tier ON customers
WHEN OLD.tier IS NOT NEW.tier
BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark)
    SELECT t.tenant_id, t.id, (SELECT value FROM sla_outcome_mark_counter) FROM tickets t JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id
    WHERE s.tenant_id = NEW.tenant_id AND s.customer_id = NEW.id
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;
CREATE TRIGGER sites_sla_customer AFTER UPDATE OF customer_id ON sites
WHEN OLD.customer_id IS NOT NEW.customer_id
BEGIN
    UPDATE sla_outcome_mark_counter SET value = value + 1;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark)
    SELECT tenant_id, id, (SELECT value FROM sla_outcome_mark_counter) FROM tickets WHERE tenant_id = NEW.tenant_id AND site_id = NEW.id
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
END;

-- Backfill, once: every existing ticket is marked.
INSERT INTO sla_outcome_dirty (tenant_id, ticket_id, mark) SELECT tenant_id, id, 1 FROM tickets;
