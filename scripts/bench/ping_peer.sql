-- What one ping costs the database done the plain way: one transaction with
-- one INSERT into the trail and one UPDATE of the live position, on the
-- server's own tables and indexes. :technicians is set with -D.
\set n random(0, :technicians - 1)
BEGIN;
INSERT INTO technician_locations (tenant_id, technician_id, device_time, lat, lon, accuracy_m, received_at)
    SELECT tenant_id, id, clock_timestamp(), 52.5, 13.4, 8.0, now() FROM bench_technicians WHERE n = :n
    ON CONFLICT DO NOTHING;
UPDATE technicians SET last_lat = 52.5, last_lon = 13.4, last_accuracy_m = 8.0, last_seen_at = clock_timestamp()
    FROM bench_technicians b WHERE b.n = :n AND technicians.tenant_id = b.tenant_id AND technicians.id = b.id;
END;
