-- The SLA report's on-site time from the outcome row (issue 18, item 5): a
-- ticket's stretches summed once when the outcome is written, so the report
-- reads one row per ticket instead of joining `sla_on_site` and grouping it
-- per ticket. The summary gives the exact clipped seconds whenever every
-- stretch starts at or after the range's start and every closed stretch ends
-- by its end (the usual case: a ticket's visits follow its creation); the
-- report falls back to `sla_on_site` for the other tickets.
-- Only a ticket's last stretch can be open (each `on_site` entry runs to the
-- next entry).
ALTER TABLE sla_outcomes ADD COLUMN on_site_closed_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sla_outcomes ADD COLUMN on_site_first_us BIGINT;
ALTER TABLE sla_outcomes ADD COLUMN on_site_last_end_us BIGINT;
ALTER TABLE sla_outcomes ADD COLUMN on_site_open_us BIGINT;

UPDATE sla_outcomes o SET on_site_closed_us = s.closed_us, on_site_first_us = s.first_us,
    on_site_last_end_us = s.last_end_us, on_site_open_us = s.open_us
FROM (SELECT tenant_id, ticket_id,
             COALESCE(SUM(CASE WHEN ended_us > started_us THEN ended_us - started_us ELSE 0 END), 0) AS closed_us,
             MIN(started_us) AS first_us, MAX(ended_us) AS last_end_us,
             MAX(CASE WHEN ended_us IS NULL THEN started_us END) AS open_us
      FROM sla_on_site GROUP BY tenant_id, ticket_id) s
WHERE o.tenant_id = s.tenant_id AND o.ticket_id = s.ticket_id;
