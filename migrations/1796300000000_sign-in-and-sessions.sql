-- Up Migration
-- Console sign-in (issue #17): the built-in system user the ADMIN_TOKEN acts as, sessions,
-- passwords, one-time set-password links and organization invitations. Every secret here
-- (session tokens, link tokens, invitation tokens) is stored only as its SHA-256 (hex); passwords
-- only as a salted PBKDF2 hash that names its algorithm and cost. See docs/auth.md.

-- The ADMIN_TOKEN acts as this user, so that what it does records a real `created_by`. It is a
-- platform manager, never has a password and can never be deleted.
INSERT INTO users (id, username, email, display_name)
VALUES ('00000000-0000-0000-0000-000000000000', 'admin-token', 'admin-token@system.tollgate.invalid', 'ADMIN_TOKEN (built-in system user)')
ON CONFLICT (id) DO NOTHING;
INSERT INTO user_roles (user_id, role)
VALUES ('00000000-0000-0000-0000-000000000000', 'platform_manager'),
       ('00000000-0000-0000-0000-000000000000', 'standard_user')
ON CONFLICT DO NOTHING;
ALTER TABLE users ADD CONSTRAINT users_system_user_not_deleted
    CHECK (id <> '00000000-0000-0000-0000-000000000000' OR deleted_at IS NULL);

-- `hash` spells its own parameters (`pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`), so the
-- cost can be raised later and old hashes still verify.
CREATE TABLE user_passwords (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE
               CHECK (user_id <> '00000000-0000-0000-0000-000000000000'),
    hash       text NOT NULL CHECK (hash ~ '^[a-z0-9-]+\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$'),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A session is valid while unrevoked, unexpired, its user live and (for a platform-key sign-in)
-- its key undeleted. `secret_check` binds an ADMIN_TOKEN sign-in to the token it was made with
-- (HMAC keyed by the session token, so the table alone reveals nothing about the ADMIN_TOKEN):
-- rotating the secret ends those sessions.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    via          text NOT NULL CHECK (via IN ('admin_token', 'platform_key', 'password', 'access')),
    api_key_id   uuid REFERENCES api_keys (id) ON DELETE CASCADE,
    secret_check text,
    user_agent   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    CHECK ((via = 'platform_key') = (api_key_id IS NOT NULL)),
    CHECK ((via = 'admin_token') = (secret_check IS NOT NULL))
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- One-time set-password links a manager hands out (`/set-password?token=…`).
CREATE TABLE password_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_tokens_user_idx ON password_tokens (user_id) WHERE used_at IS NULL;

-- Invitation links to an organization (`/invite?token=…`), accepted once.
CREATE TABLE organization_invitations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash      text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    organization_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('member', 'admin')),
    -- When set, only the user with this email may accept.
    email           text,
    created_by      uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    accepted_at     timestamptz,
    accepted_by     uuid REFERENCES users (id),
    CHECK ((accepted_at IS NULL) = (accepted_by IS NULL))
);
CREATE INDEX organization_invitations_org_idx ON organization_invitations (organization_id);

-- Down Migration
DROP TABLE organization_invitations;
DROP TABLE password_tokens;
DROP TABLE sessions;
DROP TABLE user_passwords;
ALTER TABLE users DROP CONSTRAINT users_system_user_not_deleted;
-- The system user stays if anything it did still references it (created_by columns).
DELETE FROM user_roles WHERE user_id = '00000000-0000-0000-0000-000000000000';
