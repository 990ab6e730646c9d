-- Territories (GeoJSON boundaries), the territory each site resolves to, and
-- the geofenced check-in recorded on a ticket.
CREATE TABLE territories (
    id BLOB PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- GeoJSON Polygon or MultiPolygon, as validated and re-serialised by the server
    boundary TEXT NOT NULL,
    -- extent of the boundary, to pre-filter sites and points
    min_lat REAL NOT NULL,
    min_lon REAL NOT NULL,
    max_lat REAL NOT NULL,
    max_lon REAL NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE INDEX territories_tenant_created ON territories(tenant_id, created_at, id);

-- The first territory (by creation) covering the site; maintained on write.
-- (SQLite cannot add a composite foreign key to an existing table; the id
-- alone is unique.)
ALTER TABLE sites ADD COLUMN territory_id BLOB REFERENCES territories(id);
CREATE INDEX sites_tenant_territory ON sites(tenant_id, territory_id);
CREATE INDEX sites_tenant_lat ON sites(tenant_id, lat);

ALTER TABLE tickets ADD COLUMN checkin_verified BOOLEAN;
ALTER TABLE tickets ADD COLUMN checkin_distance_m REAL;
ALTER TABLE tickets ADD COLUMN checkin_accuracy_m REAL;
ALTER TABLE tickets ADD COLUMN checkin_at TEXT;
