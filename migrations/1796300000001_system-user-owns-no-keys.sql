-- Up Migration
-- The built-in system user's only credential is the ADMIN_TOKEN, so rotating that secret shuts it
-- out entirely: it owns no API keys (the admin API refuses with a 400 before this is reached).
ALTER TABLE api_keys ADD CONSTRAINT api_keys_not_system_user
    CHECK (user_id <> '00000000-0000-0000-0000-000000000000');

-- Down Migration
ALTER TABLE api_keys DROP CONSTRAINT api_keys_not_system_user;
