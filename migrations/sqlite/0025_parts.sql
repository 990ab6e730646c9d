-- Parts and van stock (issue 23): the catalogue, stock locations (warehouses
-- and one van per technician), the append-only movement ledger with a
-- balance per (location, part) kept in the movement's transaction, reorder
-- points, the phone's part entries as reconciled consumption, required parts
-- per ticket, the dispatch policy per category and labour rates.
-- Quantities are thousandths of the part's unit (exact sums); money is in
-- minor units (cents).
CREATE TABLE parts (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    cost_cents INTEGER NOT NULL,
    barcode TEXT,
    serial_tracked INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, id)
);

CREATE TABLE stock_locations (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL CHECK (kind IN ('warehouse', 'van')),
    name TEXT NOT NULL,
    technician_id BLOB UNIQUE,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, technician_id) REFERENCES technicians(tenant_id, id),
    CHECK ((kind = 'van') = (technician_id IS NOT NULL))
);

CREATE TABLE stock_movements (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('receipt', 'transfer', 'consumption', 'return', 'adjustment')),
    part_id BLOB NOT NULL,
    from_location_id BLOB,
    to_location_id BLOB,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    ticket_id BLOB,
    entry_id TEXT,
    reason TEXT,
    created_by BLOB,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, part_id) REFERENCES parts(tenant_id, id),
    FOREIGN KEY (tenant_id, from_location_id) REFERENCES stock_locations(tenant_id, id),
    FOREIGN KEY (tenant_id, to_location_id) REFERENCES stock_locations(tenant_id, id),
    CHECK (from_location_id IS NOT NULL OR to_location_id IS NOT NULL)
);
CREATE INDEX stock_movements_tenant ON stock_movements(tenant_id, created_at, id);
CREATE INDEX stock_movements_from ON stock_movements(from_location_id, part_id);
CREATE INDEX stock_movements_to ON stock_movements(to_location_id, part_id);
CREATE INDEX stock_movements_ticket ON stock_movements(ticket_id, entry_id);

CREATE TABLE stock_balances (
    tenant_id BLOB NOT NULL,
    location_id BLOB NOT NULL,
    part_id BLOB NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (location_id, part_id),
    FOREIGN KEY (tenant_id, location_id) REFERENCES stock_locations(tenant_id, id),
    FOREIGN KEY (tenant_id, part_id) REFERENCES parts(tenant_id, id)
);
CREATE INDEX stock_balances_part ON stock_balances(tenant_id, part_id);

CREATE TABLE stock_reorder_points (
    tenant_id BLOB NOT NULL,
    location_id BLOB NOT NULL,
    part_id BLOB NOT NULL,
    min_quantity INTEGER NOT NULL,
    target_quantity INTEGER NOT NULL,
    PRIMARY KEY (location_id, part_id),
    FOREIGN KEY (tenant_id, location_id) REFERENCES stock_locations(tenant_id, id),
    FOREIGN KEY (tenant_id, part_id) REFERENCES parts(tenant_id, id)
);

-- One row per part entry of a ticket's document: what the ledger consumed
-- for it so far (net), so every write of the document reconciles exactly.
CREATE TABLE part_uses (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    entry_id TEXT NOT NULL,
    part_number TEXT NOT NULL,
    part_id BLOB,
    location_id BLOB,
    quantity INTEGER NOT NULL,
    consumed INTEGER NOT NULL,
    serial TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, entry_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id)
);

CREATE TABLE ticket_required_parts (
    tenant_id BLOB NOT NULL,
    ticket_id BLOB NOT NULL,
    part_id BLOB NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (ticket_id, part_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets(tenant_id, id),
    FOREIGN KEY (tenant_id, part_id) REFERENCES parts(tenant_id, id)
);

CREATE TABLE category_parts_policies (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    category TEXT NOT NULL,
    policy TEXT NOT NULL CHECK (policy IN ('prefer', 'require')),
    PRIMARY KEY (tenant_id, category)
);

CREATE TABLE labour_rates (
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    scope TEXT NOT NULL CHECK (scope IN ('default', 'category', 'technician')),
    scope_key TEXT NOT NULL,
    cents_per_hour INTEGER NOT NULL CHECK (cents_per_hour >= 0),
    PRIMARY KEY (tenant_id, scope, scope_key)
);
