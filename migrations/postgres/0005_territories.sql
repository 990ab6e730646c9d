-- Territories (GeoJSON boundaries), the territory each site resolves to, and
-- the geofenced check-in recorded on a ticket.
CREATE TABLE territories (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    -- GeoJSON Polygon or MultiPolygon, as validated and re-serialised by the server
    boundary TEXT NOT NULL,
    -- extent of the boundary, to pre-filter sites and points
    min_lat DOUBLE PRECISION NOT NULL,
    min_lon DOUBLE PRECISION NOT NULL,
    max_lat DOUBLE PRECISION NOT NULL,
    max_lon DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE INDEX territories_tenant_created ON territories(tenant_id, created_at, id);

-- The first territory (by creation) covering the site; maintained on write.
ALTER TABLE sites ADD COLUMN territory_id UUID;
ALTER TABLE sites ADD CONSTRAINT sites_territory_fk
    FOREIGN KEY (tenant_id, territory_id) REFERENCES territories(tenant_id, id);
CREATE INDEX sites_tenant_territory ON sites(tenant_id, territory_id);
CREATE INDEX sites_tenant_lat ON sites(tenant_id, lat);

ALTER TABLE tickets ADD COLUMN checkin_verified BOOLEAN;
ALTER TABLE tickets ADD COLUMN checkin_distance_m DOUBLE PRECISION;
ALTER TABLE tickets ADD COLUMN checkin_accuracy_m DOUBLE PRECISION;
ALTER TABLE tickets ADD COLUMN checkin_at TIMESTAMPTZ;
