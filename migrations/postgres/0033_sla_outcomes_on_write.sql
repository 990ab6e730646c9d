-- SLA outcomes on write (issue 18, item 5). Every change that can move a
-- ticket's SLA verdict marks the ticket here, in the change's own
-- transaction, whoever writes it (API, sync projection, merges, approvals,
-- policy and tier changes, hand-written SQL): the mark cannot be missed.
-- The outcome maintainer (`sla/outcomes.rs`, one replica under a lease)
-- recomputes marked tickets within a poll and deletes the mark with the
-- outcome in one transaction, unless the ticket was marked again meanwhile
-- (`mark` moved on); a report recomputes only the marked tickets of its
-- range, so it no longer compares every ticket with its outcome.
-- Marks come from one sequence, so a ticket's mark never takes a value it
-- had before (a writer holding an old mark cannot clear a newer one).
CREATE SEQUENCE sla_outcome_marks;
CREATE TABLE sla_outcome_dirty (
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    mark BIGINT NOT NULL DEFAULT nextval('sla_outcome_marks'),
    PRIMARY KEY (tenant_id, ticket_id)
);

-- Outcomes that a future-dated event makes expire (the maintainer's timer).
CREATE INDEX sla_outcomes_valid_until ON sla_outcomes (tenant_id, valid_until_us)
    WHERE valid_until_us IS NOT NULL;

-- New tickets, in bulk: one statement-level trigger per statement.
CREATE FUNCTION sla_mark_new_tickets() RETURNS trigger AS $$
BEGIN
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id)
    SELECT tenant_id, id FROM new_tickets
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tickets_sla_insert AFTER INSERT ON tickets
REFERENCING NEW TABLE AS new_tickets
FOR EACH STATEMENT EXECUTE FUNCTION sla_mark_new_tickets();

-- What the clock reads from the ticket row: priority, category, site (the
-- customer's tier) and creation. Status comes through the history.
CREATE FUNCTION sla_mark_ticket() RETURNS trigger AS $$
BEGIN
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id) VALUES (NEW.tenant_id, NEW.id)
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tickets_sla_update AFTER UPDATE OF priority, category, site_id, created_at ON tickets
FOR EACH ROW WHEN (OLD.priority IS DISTINCT FROM NEW.priority OR OLD.category IS DISTINCT FROM NEW.category
    OR OLD.site_id IS DISTINCT FROM NEW.site_id OR OLD.created_at IS DISTINCT FROM NEW.created_at)
EXECUTE FUNCTION sla_mark_ticket();

-- The status history and the approval pauses, keyed by ticket_id.
CREATE FUNCTION sla_mark_ticket_of_row() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO sla_outcome_dirty (tenant_id, ticket_id) VALUES (OLD.tenant_id, OLD.ticket_id)
        ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    ELSE
        INSERT INTO sla_outcome_dirty (tenant_id, ticket_id) VALUES (NEW.tenant_id, NEW.ticket_id)
        ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION sla_mark_new_history() RETURNS trigger AS $$
BEGIN
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id)
    SELECT DISTINCT tenant_id, ticket_id FROM new_history
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER status_history_sla_insert AFTER INSERT ON ticket_status_history
REFERENCING NEW TABLE AS new_history
FOR EACH STATEMENT EXECUTE FUNCTION sla_mark_new_history();
CREATE TRIGGER status_history_sla_change AFTER UPDATE OR DELETE ON ticket_status_history
FOR EACH ROW EXECUTE FUNCTION sla_mark_ticket_of_row();
CREATE TRIGGER approval_requests_sla AFTER INSERT OR UPDATE OR DELETE ON approval_requests
FOR EACH ROW EXECUTE FUNCTION sla_mark_ticket_of_row();

-- A policy change can move every ticket of the tenant.
CREATE FUNCTION sla_mark_tenant() RETURNS trigger AS $$
DECLARE
    tenant UUID;
BEGIN
    IF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
    ELSE
        tenant := NEW.tenant_id;
    END IF;
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id)
    SELECT tenant_id, id FROM tickets WHERE tenant_id = tenant
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER sla_policies_sla AFTER INSERT OR UPDATE OR DELETE ON sla_policies
FOR EACH ROW EXECUTE FUNCTION sla_mark_tenant();

-- A customer's tier (policies match on it), and a site moving to another customer.
CREATE FUNCTION sla_mark_customer_tickets() RETURNS trigger AS $$
BEGIN
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id)
    SELECT t.tenant_id, t.id FROM tickets t JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id
    WHERE s.tenant_id = NEW.tenant_id AND s.customer_id = NEW.id
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER customers_sla_tier AFTER UPDATE OF tier ON customers
FOR EACH ROW WHEN (OLD.tier IS DISTINCT FROM NEW.tier)
EXECUTE FUNCTION sla_mark_customer_tickets();
CREATE FUNCTION sla_mark_site_tickets() RETURNS trigger AS $$
BEGIN
    INSERT INTO sla_outcome_dirty (tenant_id, ticket_id)
    SELECT tenant_id, id FROM tickets WHERE tenant_id = NEW.tenant_id AND site_id = NEW.id
    ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET mark = excluded.mark;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER sites_sla_customer AFTER UPDATE OF customer_id ON sites
FOR EACH ROW WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id)
EXECUTE FUNCTION sla_mark_site_tickets();

-- Backfill, once (this migration runs once): every existing ticket is
-- marked, and the maintainer computes them in batches after the start.
INSERT INTO sla_outcome_dirty (tenant_id, ticket_id) SELECT tenant_id, id FROM tickets;
