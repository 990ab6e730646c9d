-- Technicians' live positions and their trail of pings.
ALTER TABLE technicians ADD COLUMN last_lat DOUBLE PRECISION;
ALTER TABLE technicians ADD COLUMN last_lon DOUBLE PRECISION;
ALTER TABLE technicians ADD COLUMN last_accuracy_m DOUBLE PRECISION;
ALTER TABLE technicians ADD COLUMN last_seen_at TIMESTAMPTZ;

CREATE TABLE technician_locations (
    tenant_id UUID NOT NULL,
    technician_id UUID NOT NULL,
    device_time TIMESTAMPTZ NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    accuracy_m DOUBLE PRECISION NOT NULL,
    speed_mps DOUBLE PRECISION,
    heading_deg DOUBLE PRECISION,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (technician_id, device_time),
    FOREIGN KEY (tenant_id, technician_id) REFERENCES technicians(tenant_id, id)
);
CREATE INDEX technician_locations_device_time ON technician_locations(device_time);
