-- The ticket timeline reads one ticket's audit entries and webhook deliveries.
CREATE INDEX audit_log_entity ON audit_log(tenant_id, entity_id, seq);
CREATE INDEX webhook_deliveries_tenant_ticket ON webhook_deliveries(tenant_id, ticket_id, seq);
