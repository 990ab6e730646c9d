-- Per-ticket SLA outcomes, so the SLA report is a GROUP BY in SQL instead of
-- one clock evaluation per ticket. A row is the clock's verdict computed in
-- the application (`compute_clock`) and is valid while the ticket's version
-- (`tickets.updated_at`), the tenant's policies (`policy_epoch`, a hash of
-- them) and `valid_until_us` (the first future-dated event) hold; the report
-- recomputes the rows of its range that are stale before it aggregates.
-- Times are microseconds since the epoch (integers compare and subtract the
-- same way in both backends).
CREATE TABLE sla_outcomes (
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    ticket_version TIMESTAMPTZ NOT NULL,
    policy_epoch TEXT NOT NULL,
    valid_until_us BIGINT,
    created_us BIGINT NOT NULL,
    -- 1 when a policy covers the ticket
    covered SMALLINT NOT NULL,
    -- 1 when at most one arrival on site and never reopened (history-based)
    fixed_first_time SMALLINT NOT NULL,
    -- per target: state NULL = not set by the policy, 0 = undecided (breached
    -- once deadline_us <= now when deadline_us is set), 1 = met, 2 = met late,
    -- 3 = breached for good; seconds = business seconds to meet (met, met late)
    response_state SMALLINT,
    response_deadline_us BIGINT,
    response_seconds BIGINT,
    arrival_state SMALLINT,
    arrival_deadline_us BIGINT,
    arrival_seconds BIGINT,
    resolution_state SMALLINT,
    resolution_deadline_us BIGINT,
    resolution_seconds BIGINT,
    PRIMARY KEY (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id) ON DELETE CASCADE
);

-- On-site stretches from the status history (an `on_site` entry to the next
-- entry; ended_us NULL while still on site), clipped to the range in SQL.
CREATE TABLE sla_on_site (
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    seq INTEGER NOT NULL,
    started_us BIGINT NOT NULL,
    ended_us BIGINT,
    PRIMARY KEY (tenant_id, ticket_id, seq),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id) ON DELETE CASCADE
);

-- The report's range: tickets of a tenant by creation.
CREATE INDEX tickets_tenant_created ON tickets(tenant_id, created_at);
