-- 1 M tickets of one tenant with SLA outcomes and on-site stretches, shaped like
-- `sla-bench report` seeds them, for timing the report's SQL in psql (BENCHMARKS.md,
-- "Whole table in one pass"). Outcomes are synthesised here, not computed by the maintainer.
\set tenant '''11111111-1111-1111-1111-111111111111'''
\set customer '''22222222-2222-2222-2222-222222222222'''
\set site '''33333333-3333-3333-3333-333333333333'''
\set usr '''44444444-4444-4444-4444-444444444444'''
\set base '''2026-12-05 20:00:00+00''::timestamptz'
INSERT INTO tenants (id, name, audit_head, created_at) VALUES (:tenant, 'bench', '', now());
INSERT INTO customers (id, tenant_id, name, tier, created_at) VALUES (:customer, :tenant, 'C', 'gold', now());
INSERT INTO sites (id, tenant_id, customer_id, name, address, lat, lon, created_at) VALUES (:site, :tenant, :customer, 'S', '', 52.5, 13.4, now());
INSERT INTO users (id, tenant_id, email, name, role, password_hash, created_at) VALUES (:usr, :tenant, 'a@b', 'A', 'admin', '', now());
\timing on
INSERT INTO tickets (id, tenant_id, number, title, description, category, priority, required_skills, site_id,
 tags, custom_fields, status, hold_reason, created_by, created_at, updated_at, search_text)
SELECT md5('t' || g)::uuid, :tenant, 'B-' || g, 'Bench', '', (ARRAY['hvac','plumbing','electrical','lifts'])[1 + g % 4],
 'P' || (1 + (g / 4) % 4), '[]', :site, '[]', '{}',
 (ARRAY['closed','closed','closed','closed','closed','closed','work_done','on_site','on_hold','new'])[1 + g % 10],
 CASE WHEN g % 10 = 8 THEN 'waiting_customer' END, :usr,
 :base - interval '1 day' - ((g::bigint * 7919) % 524160) * interval '1 minute',
 :base - interval '1 day' - ((g::bigint * 7919) % 524160) * interval '1 minute' + interval '1 day', 'bench'
FROM generate_series(1, 1000000) g;
-- outcomes resembling the maintainer's (minute-grained times; lifts: shorter targets)
INSERT INTO sla_outcomes (tenant_id, ticket_id, ticket_version, policy_epoch, valid_until_us, created_us, covered,
 fixed_first_time, response_state, response_deadline_us, response_seconds, arrival_state, arrival_deadline_us,
 arrival_seconds, resolution_state, resolution_deadline_us, resolution_seconds)
SELECT :tenant, md5('t' || g)::uuid, c + interval '1 day', 'epoch', NULL, cu, 1,
 CASE WHEN g % 10 <= 5 THEN 1 ELSE 0 END,
 CASE WHEN g % 10 = 9 THEN 3 WHEN a * 60 <= rt THEN 1 ELSE 2 END, cu + rt * 1000000::bigint,
 CASE WHEN g % 10 = 9 THEN NULL ELSE a * 60 + g % 37 END,
 CASE WHEN g % 10 = 9 THEN 3 WHEN o * 60 <= at THEN 1 ELSE 2 END, cu + at * 1000000::bigint,
 CASE WHEN g % 10 = 9 THEN NULL ELSE o * 60 + g % 41 END,
 CASE WHEN g % 10 > 6 THEN 3 WHEN d * 60 <= st THEN 1 ELSE 2 END, cu + st * 1000000::bigint,
 CASE WHEN g % 10 > 6 THEN NULL ELSE d * 60 + g % 43 END
FROM (SELECT g, c, (extract(epoch FROM c) * 1000000)::bigint AS cu,
        g % 150 AS a, g % 150 + 20 + g % 280 AS o, g % 150 + 20 + g % 280 + 30 + g % 500 AS d,
        CASE WHEN g % 4 = 3 THEN 3600 ELSE 7200 END AS rt, CASE WHEN g % 4 = 3 THEN 14400 ELSE 28800 END AS at,
        CASE WHEN g % 4 = 3 THEN 57600 ELSE 86400 END AS st
      FROM (SELECT g, :base - interval '1 day' - ((g::bigint * 7919) % 524160) * interval '1 minute' AS c
            FROM generate_series(1, 1000000) g) s) x;
INSERT INTO sla_on_site (tenant_id, ticket_id, seq, started_us, ended_us)
SELECT :tenant, md5('t' || g)::uuid, 0, cu + o * 60000000::bigint, CASE WHEN g % 10 = 7 THEN NULL ELSE cu + d * 60000000::bigint END
FROM (SELECT g, (extract(epoch FROM :base - interval '1 day' - ((g::bigint * 7919) % 524160) * interval '1 minute') * 1000000)::bigint AS cu,
        g % 150 + 20 + g % 280 AS o, g % 150 + 20 + g % 280 + 30 + g % 500 AS d
      FROM generate_series(1, 1000000) g WHERE g % 10 <> 9) s;
-- the outcome's on-site summary (migration 0034), as the maintainer writes it
UPDATE sla_outcomes o SET on_site_closed_us = s.closed_us, on_site_first_us = s.first_us,
    on_site_last_end_us = s.last_end_us, on_site_open_us = s.open_us
FROM (SELECT tenant_id, ticket_id,
             COALESCE(SUM(CASE WHEN ended_us > started_us THEN ended_us - started_us ELSE 0 END), 0) AS closed_us,
             MIN(started_us) AS first_us, MAX(ended_us) AS last_end_us,
             MAX(CASE WHEN ended_us IS NULL THEN started_us END) AS open_us
      FROM sla_on_site GROUP BY tenant_id, ticket_id) s
WHERE o.tenant_id = s.tenant_id AND o.ticket_id = s.ticket_id;
TRUNCATE sla_outcome_dirty;
VACUUM ANALYZE;
