\set lon random(13000, 14000)
\set lat random(52200, 52800)
SELECT id FROM techs WHERE rare ORDER BY geog <-> ST_SetSRID(ST_MakePoint(:lon / 1000.0, :lat / 1000.0), 4326)::geography LIMIT 10;
