-- The customer may pick one of the offered visit windows on the progress page
-- (issue 20); off unless the tenant turns it on.
ALTER TABLE tenants ADD COLUMN customer_slot_choice BOOLEAN NOT NULL DEFAULT FALSE;
