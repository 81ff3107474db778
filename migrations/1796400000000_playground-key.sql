-- Up Migration
-- The console's playground key: one per (billing owner, signing-in user), rotated on each
-- `POST /admin/api/v1/playground/key` by one upsert on this index, so two tabs asking at once
-- still leave exactly one key.
CREATE UNIQUE INDEX api_keys_console_playground_idx ON api_keys (user_id, created_by)
    WHERE purpose = 'playground' AND name = 'Console playground' AND NOT is_deleted;

-- Down Migration
DROP INDEX api_keys_console_playground_idx;
