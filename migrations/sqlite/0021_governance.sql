-- Governance and hardening (issue 19).

-- Idempotency keys recover: `committed_at` is set inside the transaction of
-- the request's write, so a key whose request died before writing can be
-- taken over after a while, and one that wrote is never run twice. Keys
-- expire by `created_at`.
ALTER TABLE idempotency_keys ADD COLUMN committed_at TEXT;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The audit chain keyed: an HMAC of each entry's hash under the configured
-- audit key (`key_id` names which one), so rewriting history needs the key,
-- not only database access. Entries written before a key was configured
-- have neither.
ALTER TABLE audit_log ADD COLUMN mac TEXT;
ALTER TABLE audit_log ADD COLUMN key_id TEXT;
