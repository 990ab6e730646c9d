-- Technicians' live positions and their trail of pings.
ALTER TABLE technicians ADD COLUMN last_lat REAL;
ALTER TABLE technicians ADD COLUMN last_lon REAL;
ALTER TABLE technicians ADD COLUMN last_accuracy_m REAL;
ALTER TABLE technicians ADD COLUMN last_seen_at TEXT;

CREATE TABLE technician_locations (
    tenant_id BLOB NOT NULL,
    technician_id BLOB NOT NULL,
    device_time TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    accuracy_m REAL NOT NULL,
    speed_mps REAL,
    heading_deg REAL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (technician_id, device_time),
    FOREIGN KEY (tenant_id, technician_id) REFERENCES technicians(tenant_id, id)
);
CREATE INDEX technician_locations_device_time ON technician_locations(device_time);
