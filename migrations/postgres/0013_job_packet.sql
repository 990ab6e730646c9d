-- The technician's job packet (issue 14): what the office knows about a
-- site, a customer and an asset that the phone needs on the way and on site.
ALTER TABLE sites ADD COLUMN access_notes TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN opening_hours TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN contact_person TEXT;
ALTER TABLE assets ADD COLUMN installed_on DATE;
-- The asset's last tickets, for the packet's history.
CREATE INDEX tickets_asset ON tickets (tenant_id, asset_id, created_at);
