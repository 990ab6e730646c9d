-- The pgbench peer of ping ingest: technicians of the load tenant numbered
-- 0..N-1, so the peer's script can name one with a random number.
DROP TABLE IF EXISTS bench_technicians;
CREATE TABLE bench_technicians AS
    SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, tenant_id, id FROM technicians;
ALTER TABLE bench_technicians ADD PRIMARY KEY (n);
ANALYZE bench_technicians;
