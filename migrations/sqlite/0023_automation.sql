-- Automation (issue 21): teams of staff users with a queue each, which team
-- (and which person in it) owns a ticket besides its field assignee, the
-- tenant's ordered trigger rules, and staff notifications (the console's list).
CREATE TABLE teams (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- how an owner is picked when a ticket comes to the team without one
    assignment TEXT NOT NULL CHECK (assignment IN ('manual', 'round_robin', 'least_loaded')),
    -- round robin: the member picked last
    last_owner_id BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE TABLE team_members (
    tenant_id BLOB NOT NULL,
    team_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);

-- One row per ticket a team owns; no row: no team.
CREATE TABLE ticket_teams (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    team_id BLOB NOT NULL,
    owner_id BLOB,
    reason TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams(tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX ticket_teams_team ON ticket_teams (tenant_id, team_id, ticket_id);

CREATE TABLE automation_rules (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- evaluation order, ascending
    position INTEGER NOT NULL,
    active INTEGER NOT NULL,
    -- {events, conditions, actions, stop}, checked against the published schema on save
    definition TEXT NOT NULL,
    -- notes a rule adds are written in this user's name
    updated_by BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX automation_rules_order ON automation_rules (tenant_id, position, id);

CREATE TABLE staff_notifications (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    user_id BLOB NOT NULL,
    ticket_id BLOB,
    -- what sent it: 'rule' (a trigger rule's notify action)
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX staff_notifications_user ON staff_notifications (tenant_id, user_id, id);
