-- Watchers and time-based rules (issue 21): a version per tenant that every
-- rule write moves (replicas compare it to their cached parsed rules), who
-- watches which ticket, and the time-based firings already made (one per
-- rule, ticket and the moment the rule's clock started).
CREATE TABLE automation_rule_versions (
    tenant_id BLOB PRIMARY KEY REFERENCES tenants(id),
    version INTEGER NOT NULL
);

-- Any write to a tenant's rules moves its version, whoever writes it.
CREATE TRIGGER automation_rules_version_insert AFTER INSERT ON automation_rules
BEGIN
    INSERT INTO automation_rule_versions (tenant_id, version) VALUES (NEW.tenant_id, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER automation_rules_version_update AFTER UPDATE ON automation_rules
BEGIN
    INSERT INTO automation_rule_versions (tenant_id, version) VALUES (NEW.tenant_id, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER automation_rules_version_delete AFTER DELETE ON automation_rules
BEGIN
    INSERT INTO automation_rule_versions (tenant_id, version) VALUES (OLD.tenant_id, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1;
END;

CREATE TABLE ticket_watchers (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    user_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id, user_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);

-- One row per time-based firing: the key makes a second firing of the same
-- rule on the same ticket for the same clock start impossible, on any replica.
CREATE TABLE timed_rule_firings (
    tenant_id BLOB NOT NULL,
    rule_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    -- when the rule's clock started (the ticket's last update, or when it entered the status)
    anchor TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, rule_id, ticket_id, anchor)
);
