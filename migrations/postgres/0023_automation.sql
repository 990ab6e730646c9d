-- Automation (issue 21): teams of staff users with a queue each, which team
-- (and which person in it) owns a ticket besides its field assignee, the
-- tenant's ordered trigger rules, and staff notifications (the console's list).
CREATE TABLE teams (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- how an owner is picked when a ticket comes to the team without one
    assignment TEXT NOT NULL CHECK (assignment IN ('manual', 'round_robin', 'least_loaded')),
    -- round robin: the member picked last
    last_owner_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE TABLE team_members (
    tenant_id UUID NOT NULL,
    team_id UUID NOT NULL,
    user_id UUID NOT NULL,
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);

-- One row per ticket a team owns; no row: no team.
CREATE TABLE ticket_teams (
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    team_id UUID NOT NULL,
    owner_id UUID,
    reason TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams(tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX ticket_teams_team ON ticket_teams (tenant_id, team_id, ticket_id);

CREATE TABLE automation_rules (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- evaluation order, ascending
    position BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    -- {events, conditions, actions, stop}, checked against the published schema on save
    definition JSONB NOT NULL,
    -- notes a rule adds are written in this user's name
    updated_by UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX automation_rules_order ON automation_rules (tenant_id, position, id);

CREATE TABLE staff_notifications (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    user_id UUID NOT NULL,
    ticket_id UUID,
    -- what sent it: 'rule' (a trigger rule's notify action)
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    read_at TIMESTAMPTZ,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX staff_notifications_user ON staff_notifications (tenant_id, user_id, id);
