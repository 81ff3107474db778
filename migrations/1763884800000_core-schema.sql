-- Up Migration
-- The core data model (ARCHITECTURE §6). Names follow the reference system so its docs and
-- queries carry over. The ledger protects itself: see credits_transactions below.

CREATE TABLE users (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username     text NOT NULL UNIQUE,
    email        text NOT NULL UNIQUE,
    display_name text,
    -- Organizations are users too, so that they can own keys, models and credits.
    user_type    text NOT NULL DEFAULT 'individual' CHECK (user_type IN ('individual', 'organization')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);

CREATE TABLE user_roles (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('platform_manager', 'billing_manager', 'request_viewer', 'standard_user')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE user_organizations (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, organization_id),
    CHECK (user_id <> organization_id)
);
CREATE INDEX user_organizations_org_idx ON user_organizations (organization_id);

-- Only the SHA-256 of a key is stored; the secret is shown once at creation.
CREATE TABLE api_keys (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL,
    key_hash            text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_prefix          text NOT NULL,
    -- The billing principal (an individual or an organization).
    user_id             uuid NOT NULL REFERENCES users (id),
    created_by          uuid NOT NULL REFERENCES users (id),
    purpose             text NOT NULL DEFAULT 'realtime' CHECK (purpose IN ('platform', 'realtime', 'batch', 'playground')),
    requests_per_second numeric CHECK (requests_per_second > 0),
    burst_size          integer CHECK (burst_size > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz,
    is_deleted          boolean NOT NULL DEFAULT false,
    deleted_at          timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id) WHERE NOT is_deleted;

CREATE TABLE inference_endpoints (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL UNIQUE,
    description        text,
    url                text NOT NULL,
    -- AES-GCM ciphertext (base64 of iv || ciphertext) under the ENCRYPTION_KEY secret; never plaintext.
    api_key_encrypted  text,
    auth_header_name   text NOT NULL DEFAULT 'Authorization',
    auth_header_prefix text NOT NULL DEFAULT 'Bearer ',
    created_by         uuid REFERENCES users (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deployed_models (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The name the upstream knows; clients use the alias.
    model_name          text NOT NULL,
    alias               text NOT NULL UNIQUE,
    hosted_on           uuid NOT NULL REFERENCES inference_endpoints (id),
    description         text,
    model_type          text NOT NULL DEFAULT 'chat' CHECK (model_type IN ('chat', 'embeddings', 'reranker')),
    requests_per_second numeric CHECK (requests_per_second > 0),
    burst_size          integer CHECK (burst_size > 0),
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by          uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);

CREATE TABLE groups (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE,
    description text,
    created_by  uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The built-in group every user belongs to implicitly: a model in it is open to all.
INSERT INTO groups (id, name, description)
VALUES ('00000000-0000-0000-0000-000000000000', 'Everyone', 'Every user is implicitly a member');

CREATE TABLE user_groups (
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);

CREATE TABLE deployment_groups (
    deployment_id uuid NOT NULL REFERENCES deployed_models (id) ON DELETE CASCADE,
    group_id      uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (deployment_id, group_id)
);

-- Prices are versioned: a change closes the active row (valid_until) and opens a new one.
CREATE TABLE model_tariffs (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    deployed_model_id      uuid NOT NULL REFERENCES deployed_models (id) ON DELETE CASCADE,
    name                   text NOT NULL DEFAULT 'default',
    api_key_purpose        text NOT NULL CHECK (api_key_purpose IN ('realtime', 'batch', 'playground')),
    -- For batch tariffs: the completion window they apply to (e.g. '24h'); NULL = any.
    completion_window      text,
    input_price_per_token  numeric NOT NULL CHECK (input_price_per_token >= 0),
    output_price_per_token numeric NOT NULL CHECK (output_price_per_token >= 0),
    valid_from             timestamptz NOT NULL DEFAULT now(),
    valid_until            timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE UNIQUE INDEX model_tariffs_one_active_idx
    ON model_tariffs (deployed_model_id, api_key_purpose, coalesce(completion_window, ''))
    WHERE valid_until IS NULL;
CREATE INDEX model_tariffs_model_idx ON model_tariffs (deployed_model_id, valid_from DESC);

-- Caching is on for a model only while it has an active row here.
CREATE TABLE model_cache_tariffs (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    deployed_model_id    uuid NOT NULL REFERENCES deployed_models (id) ON DELETE CASCADE,
    read_multiplier      numeric NOT NULL DEFAULT 0.1 CHECK (read_multiplier >= 0),
    write_multiplier_5m  numeric CHECK (write_multiplier_5m >= 0),
    write_multiplier_1h  numeric CHECK (write_multiplier_1h >= 0),
    write_multiplier_24h numeric CHECK (write_multiplier_24h >= 0),
    min_prefix_tokens    integer NOT NULL DEFAULT 1024 CHECK (min_prefix_tokens >= 0),
    valid_from           timestamptz NOT NULL DEFAULT now(),
    valid_until          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE UNIQUE INDEX model_cache_tariffs_one_active_idx
    ON model_cache_tariffs (deployed_model_id) WHERE valid_until IS NULL;

-- The credit ledger. Append-only, enforced below: corrections are new rows, never edits.
CREATE TABLE credits_transactions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_id            uuid NOT NULL REFERENCES users (id),
    transaction_type   text NOT NULL CHECK (transaction_type IN ('admin_grant', 'admin_removal', 'purchase', 'usage')),
    -- Always positive; the type says which way it moves the balance.
    amount             numeric NOT NULL CHECK (amount > 0),
    -- What caused the row (e.g. 'usage:<event_id>'); unique, so a replay cannot charge twice.
    source_id          text NOT NULL UNIQUE,
    description        text,
    fusillade_batch_id uuid,
    api_key_id         uuid,
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credits_transactions_user_idx ON credits_transactions (user_id, seq);

CREATE FUNCTION credits_transactions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credits_transactions is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER credits_transactions_no_update_delete
    BEFORE UPDATE OR DELETE ON credits_transactions
    FOR EACH ROW EXECUTE FUNCTION credits_transactions_append_only();
CREATE TRIGGER credits_transactions_no_truncate
    BEFORE TRUNCATE ON credits_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION credits_transactions_append_only();

-- A running balance per user, folded from the ledger up to last_seq (a cache of SUM, never the truth).
CREATE TABLE user_balance_checkpoints (
    user_id    uuid PRIMARY KEY REFERENCES users (id),
    balance    numeric NOT NULL DEFAULT 0,
    last_seq   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per proxied request. event_id is generated by the gateway and makes writes idempotent.
CREATE TABLE http_analytics (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id                    uuid NOT NULL UNIQUE,
    timestamp                   timestamptz NOT NULL,
    method                      text NOT NULL,
    uri                         text NOT NULL,
    model                       text,
    served_model                text,
    status_code                 integer NOT NULL,
    duration_ms                 bigint NOT NULL,
    duration_to_first_byte_ms   bigint,
    prompt_tokens               bigint NOT NULL DEFAULT 0,
    completion_tokens           bigint NOT NULL DEFAULT 0,
    reasoning_tokens            bigint NOT NULL DEFAULT 0,
    total_tokens                bigint NOT NULL DEFAULT 0,
    cache_read_tokens           bigint NOT NULL DEFAULT 0,
    cache_write_5m_tokens       bigint NOT NULL DEFAULT 0,
    cache_write_1h_tokens       bigint NOT NULL DEFAULT 0,
    cache_write_24h_tokens      bigint NOT NULL DEFAULT 0,
    response_type               text NOT NULL,
    finish_reason               text,
    truncated                   boolean NOT NULL DEFAULT false,
    user_id                     uuid,
    api_key_id                  uuid,
    access_source               text NOT NULL,
    provider_name               text,
    input_price_per_token       numeric,
    output_price_per_token      numeric,
    total_cost                  numeric,
    uncached_cost               numeric,
    fusillade_batch_id          uuid,
    fusillade_request_id        uuid,
    custom_id                   text,
    request_origin              text NOT NULL DEFAULT 'api',
    batch_sla                   text NOT NULL DEFAULT '',
    batch_request_source        text NOT NULL DEFAULT '',
    trace_id                    text,
    user_agent                  text,
    created_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX http_analytics_timestamp_idx ON http_analytics (timestamp DESC);
CREATE INDEX http_analytics_user_idx ON http_analytics (user_id, timestamp DESC);
CREATE INDEX http_analytics_model_idx ON http_analytics (model, timestamp DESC);
CREATE INDEX http_analytics_batch_request_idx ON http_analytics (fusillade_request_id) WHERE fusillade_request_id IS NOT NULL;

-- The prompt-cache prefix index, scoped by (principal, model alias, tokenizer version).
CREATE TABLE prompt_cache_entries (
    principal_id      uuid NOT NULL,
    model_alias       text NOT NULL,
    tokenizer_version text NOT NULL,
    prefix_hash       text NOT NULL,
    prefix_tokens     integer NOT NULL CHECK (prefix_tokens >= 0),
    tier              text NOT NULL CHECK (tier IN ('5m', '1h', '24h')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_read_at      timestamptz,
    expires_at        timestamptz NOT NULL,
    PRIMARY KEY (principal_id, model_alias, tokenizer_version, prefix_hash)
);
CREATE INDEX prompt_cache_entries_expiry_idx ON prompt_cache_entries (expires_at);

-- Stored responses (the Responses API and, per model, chat completions).
CREATE TABLE requests (
    id                 text PRIMARY KEY CHECK (id ~ '^resp_'),
    created_by         uuid NOT NULL REFERENCES users (id),
    api_key_id         uuid,
    batch_id           uuid,
    model              text NOT NULL,
    status             text NOT NULL,
    service_tier       text,
    response_status    integer,
    request_body       text,
    response_body      text,
    -- Set instead of the bodies when they were too large for a queue message (an R2 key).
    body_object_key    text,
    previous_response_id text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    duration_ms        bigint
);
CREATE INDEX requests_owner_idx ON requests (created_by, created_at DESC);

-- Queue messages that could not be processed (malformed, or out of retries); replayable.
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue       text NOT NULL,
    message_id  text NOT NULL,
    body        text NOT NULL,
    reason      text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    received_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz,
    UNIQUE (queue, message_id)
);

-- Down Migration
DROP TABLE dead_letters;
DROP TABLE requests;
DROP TABLE prompt_cache_entries;
DROP TABLE http_analytics;
DROP TABLE user_balance_checkpoints;
DROP TRIGGER credits_transactions_no_truncate ON credits_transactions;
DROP TRIGGER credits_transactions_no_update_delete ON credits_transactions;
DROP TABLE credits_transactions;
DROP FUNCTION credits_transactions_append_only();
DROP TABLE model_cache_tariffs;
DROP TABLE model_tariffs;
DROP TABLE deployment_groups;
DROP TABLE user_groups;
DROP TABLE groups;
DROP TABLE deployed_models;
DROP TABLE inference_endpoints;
DROP TABLE api_keys;
DROP TABLE user_organizations;
DROP TABLE user_roles;
DROP TABLE users;
