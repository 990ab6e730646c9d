-- Parts and van stock (issue 23), serials: the serial of a serial-tracked
-- part used on a ticket, recorded on the ticket's asset, one row per part
-- entry of the ticket's document (kept in step with the entry in the
-- transaction that reconciles the document's part entries).
CREATE TABLE asset_serials (
    tenant_id UUID NOT NULL,
    asset_id UUID NOT NULL,
    ticket_id UUID NOT NULL,
    entry_id TEXT NOT NULL,
    part_id UUID NOT NULL,
    serial TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticket_id, entry_id),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets(tenant_id, id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, part_id) REFERENCES parts(tenant_id, id)
);
CREATE INDEX asset_serials_asset ON asset_serials(tenant_id, asset_id, recorded_at);
