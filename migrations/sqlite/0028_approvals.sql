-- Approvals (issue 21): the tenant's approval policies (a condition in the
-- trigger rules' language, an optional job-value threshold, the approvers
-- and whether a pending request pauses the SLA clock), and approval
-- requests on tickets. A request is a side-table state: the ticket keeps
-- its status; a pending request that pauses the SLA is a pause span of the
-- clock from requested_at to decided_at.
CREATE TABLE approval_policies (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- {conditions, min_value_cents, approver_user_ids, approver_roles, pause_sla}
    body TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE approval_requests (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    ticket_id BLOB NOT NULL,
    policy_id BLOB NOT NULL REFERENCES approval_policies(id),
    policy_name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    pause_sla INTEGER NOT NULL,
    -- the policy's approvers when the request was made: {user_ids, roles}
    approvers TEXT NOT NULL,
    reason TEXT NOT NULL,
    value_cents INTEGER,
    requested_by BLOB,
    requested_at TEXT NOT NULL,
    decided_by BLOB,
    decided_at TEXT,
    decision_comment TEXT NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);
-- At most one pending request per ticket.
CREATE UNIQUE INDEX approval_requests_pending ON approval_requests (tenant_id, ticket_id) WHERE state = 'pending';
CREATE INDEX approval_requests_ticket ON approval_requests (tenant_id, ticket_id, requested_at);
CREATE INDEX approval_requests_state ON approval_requests (tenant_id, state, requested_at);

-- Macros (issue 21): a named bundle of trigger-rule actions and a reply
-- template, shared with a team (team_id) or personal (owner_id).
CREATE TABLE macros (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    team_id BLOB,
    owner_id BLOB,
    -- {actions, reply: {body, visibility}}, checked on save
    body TEXT NOT NULL,
    created_by BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((team_id IS NULL) <> (owner_id IS NULL)),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams(tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users(tenant_id, id)
);
CREATE INDEX macros_tenant ON macros (tenant_id, name);
