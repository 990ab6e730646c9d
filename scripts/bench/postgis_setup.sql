DROP DATABASE IF EXISTS truckroll_postgis;
CREATE DATABASE truckroll_postgis;
\c truckroll_postgis
CREATE EXTENSION postgis;
CREATE TABLE techs (id bigint PRIMARY KEY, geog geography(Point, 4326) NOT NULL, common boolean NOT NULL, rare boolean NOT NULL);
SELECT setseed(0.42);
INSERT INTO techs SELECT i, ST_SetSRID(ST_MakePoint(13.0 + random() * 1.0, 52.2 + random() * 0.6), 4326)::geography,
  random() < 0.5, random() < 0.02 FROM generate_series(1, 100000) i;
CREATE INDEX techs_geog ON techs USING gist (geog);
ANALYZE techs;
