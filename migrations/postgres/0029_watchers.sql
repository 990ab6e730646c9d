-- Watchers and time-based rules (issue 21): a version per tenant that every
-- rule write moves (replicas compare it to their cached parsed rules), who
-- watches which ticket, and the time-based firings already made (one per
-- rule, ticket and the moment the rule's clock started).
CREATE TABLE automation_rule_versions (
    tenant_id UUID PRIMARY KEY REFERENCES tenants(id),
    version BIGINT NOT NULL
);

-- Any write to a tenant's rules moves its version, whoever writes it.
CREATE FUNCTION automation_rules_bump_version() RETURNS trigger AS $$
DECLARE
    tenant UUID;
BEGIN
    IF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
    ELSE
        tenant := NEW.tenant_id;
    END IF;
    INSERT INTO automation_rule_versions (tenant_id, version) VALUES (tenant, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = automation_rule_versions.version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER automation_rules_version AFTER INSERT OR UPDATE OR DELETE ON automation_rules
FOR EACH ROW EXECUTE FUNCTION automation_rules_bump_version();

CREATE TABLE ticket_watchers (
    tenant_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    user_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id, user_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
);

-- One row per time-based firing: the key makes a second firing of the same
-- rule on the same ticket for the same clock start impossible, on any replica.
CREATE TABLE timed_rule_firings (
    tenant_id UUID NOT NULL,
    rule_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    -- when the rule's clock started (the ticket's last update, or when it entered the status)
    anchor TIMESTAMPTZ NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, rule_id, ticket_id, anchor)
);
