-- Scheduling (issue 20): estimated durations per category, a ticket's
-- appointment window (a side table keyed by the ticket, so the ticket row is
-- untouched), technicians' absences and the tenant's holidays.
CREATE TABLE category_durations (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    category TEXT NOT NULL,
    minutes INTEGER NOT NULL CHECK (minutes BETWEEN 5 AND 1440),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, category)
);

-- The promised window; `technician_id` is who it is booked with (a booked
-- slot or an applied plan), else the ticket's assignee does it.
CREATE TABLE ticket_windows (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 1440),
    technician_id BLOB,
    source TEXT NOT NULL CHECK (source IN ('manual', 'slot', 'plan')),
    -- When an applied day plan has the technician start the work, and the
    -- plan; the phone orders its day by it.
    planned_start TEXT,
    plan_id BLOB,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, technician_id) REFERENCES technicians(tenant_id, id),
    CHECK (ends_at > starts_at)
);
CREATE INDEX ticket_windows_time ON ticket_windows(tenant_id, starts_at);

CREATE TABLE technician_absences (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    technician_id BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('holiday', 'sickness', 'training', 'other')),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, technician_id) REFERENCES technicians(tenant_id, id),
    CHECK (ends_at > starts_at)
);
CREATE INDEX technician_absences_time ON technician_absences(tenant_id, ends_at);

-- Whole local days (the tenant's time zone) nobody works.
CREATE TABLE tenant_holidays (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    day TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- A day plan: the solver's routes for one local day (of a territory or the
-- whole tenant), kept as JSON; applied once, in one transaction.
CREATE TABLE day_plans (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    day TEXT NOT NULL,
    territory_id BLOB,
    state TEXT NOT NULL CHECK (state IN ('proposed', 'applied')),
    body TEXT NOT NULL,
    created_by BLOB,
    created_at TEXT NOT NULL,
    applied_at TEXT
);
CREATE INDEX day_plans_day ON day_plans(tenant_id, day);

-- Preventive maintenance: a ticket template with a recurrence; each
-- occurrence's ticket is made `lead_days` ahead, exactly once: the
-- occurrence row (plan, day) is inserted in the transaction that makes the
-- ticket, and its key refuses a second.
CREATE TABLE maintenance_plans (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    site_id BLOB NOT NULL,
    asset_id BLOB,
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    required_skills TEXT NOT NULL,
    recurrence TEXT NOT NULL,
    start_on TEXT NOT NULL,
    ends_on TEXT,
    lead_days INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    window_minutes INTEGER NOT NULL,
    duration_minutes INTEGER,
    state TEXT NOT NULL CHECK (state IN ('active', 'paused', 'ended')),
    created_by BLOB NOT NULL,
    created_at TEXT NOT NULL,
    checked_at TEXT,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);

CREATE TABLE maintenance_occurrences (
    tenant_id BLOB NOT NULL,
    plan_id BLOB NOT NULL,
    due_on TEXT NOT NULL,
    ticket_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, plan_id, due_on),
    FOREIGN KEY (tenant_id, plan_id) REFERENCES maintenance_plans(tenant_id, id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);
