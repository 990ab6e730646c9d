-- The SLA report's on-site time from the outcome row (issue 18, item 5):
-- see the PostgreSQL migration.
ALTER TABLE sla_outcomes ADD COLUMN on_site_closed_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sla_outcomes ADD COLUMN on_site_first_us INTEGER;
ALTER TABLE sla_outcomes ADD COLUMN on_site_last_end_us INTEGER;
ALTER TABLE sla_outcomes ADD COLUMN on_site_open_us INTEGER;

UPDATE sla_outcomes SET
    on_site_closed_us = (SELECT COALESCE(SUM(CASE WHEN x.ended_us > x.started_us THEN x.ended_us - x.started_us ELSE 0 END), 0)
        FROM sla_on_site x WHERE x.tenant_id = sla_outcomes.tenant_id AND x.ticket_id = sla_outcomes.ticket_id),
    on_site_first_us = (SELECT MIN(x.started_us)
        FROM sla_on_site x WHERE x.tenant_id = sla_outcomes.tenant_id AND x.ticket_id = sla_outcomes.ticket_id),
    on_site_last_end_us = (SELECT MAX(x.ended_us)
        FROM sla_on_site x WHERE x.tenant_id = sla_outcomes.tenant_id AND x.ticket_id = sla_outcomes.ticket_id),
    on_site_open_us = (SELECT MAX(CASE WHEN x.ended_us IS NULL THEN x.started_us END)
        FROM sla_on_site x WHERE x.tenant_id = sla_outcomes.tenant_id AND x.ticket_id = sla_outcomes.ticket_id);
