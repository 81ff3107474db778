-- Up Migration
-- Composite models (docs/routing.md): an alias routed over component models with load balancing,
-- fallback before the first byte, and backoff. The columns follow the reference system's names so
-- its operators' configurations carry over. A composite has no endpoint or upstream name of its
-- own; it has tariffs, groups and cache pricing like any model (the customer pays its tariff).
ALTER TABLE deployed_models
    ALTER COLUMN model_name DROP NOT NULL,
    ALTER COLUMN hosted_on DROP NOT NULL,
    ADD COLUMN is_composite           boolean NOT NULL DEFAULT false,
    ADD COLUMN lb_strategy            text    NOT NULL DEFAULT 'weighted_random' CHECK (lb_strategy IN ('weighted_random', 'priority')),
    ADD COLUMN fallback_enabled       boolean NOT NULL DEFAULT true,
    ADD COLUMN fallback_on_status     integer[] NOT NULL DEFAULT '{429,500,502,503,504}',
    ADD COLUMN fallback_on_rate_limit boolean NOT NULL DEFAULT true,
    ADD COLUMN fallback_with_replacement boolean NOT NULL DEFAULT false,
    ADD COLUMN fallback_max_attempts  integer NOT NULL DEFAULT 3 CHECK (fallback_max_attempts BETWEEN 1 AND 10),
    ADD COLUMN backoff_initial_ms     integer NOT NULL DEFAULT 100 CHECK (backoff_initial_ms >= 0),
    ADD COLUMN backoff_max_ms         integer NOT NULL DEFAULT 5000 CHECK (backoff_max_ms >= 0),
    ADD COLUMN backoff_factor         numeric NOT NULL DEFAULT 2 CHECK (backoff_factor >= 1),
    ADD COLUMN backoff_jitter         text    NOT NULL DEFAULT 'full' CHECK (backoff_jitter IN ('full', 'none')),
    ADD COLUMN backoff_max_total_ms   integer DEFAULT 10000 CHECK (backoff_max_total_ms >= 0),
    -- Most requests in flight at once, across isolates (a Durable Object holds the count); NULL = unlimited.
    ADD COLUMN capacity               integer CHECK (capacity > 0),
    ADD CONSTRAINT deployed_models_upstream_or_composite CHECK (
        CASE WHEN is_composite THEN hosted_on IS NULL AND model_name IS NULL
             ELSE hosted_on IS NOT NULL AND model_name IS NOT NULL END);

-- A composite's components: ordinary (non-composite) models, each once.
CREATE TABLE deployed_model_components (
    composite_model_id uuid    NOT NULL REFERENCES deployed_models (id) ON DELETE CASCADE,
    deployed_model_id  uuid    NOT NULL REFERENCES deployed_models (id) ON DELETE CASCADE,
    weight             integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 100),
    sort_order         integer NOT NULL DEFAULT 0,
    enabled            boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (composite_model_id, deployed_model_id),
    CHECK (composite_model_id <> deployed_model_id)
);
CREATE INDEX deployed_model_components_component_idx ON deployed_model_components (deployed_model_id);

-- What routing did for each request: the attempts (component alias, status, error) and the
-- component that served. NULL for plain aliases.
ALTER TABLE http_analytics
    ADD COLUMN attempt_count     integer,
    ADD COLUMN attempts          jsonb,
    ADD COLUMN served_component  text;

-- Down Migration
ALTER TABLE http_analytics DROP COLUMN served_component, DROP COLUMN attempts, DROP COLUMN attempt_count;
DROP TABLE deployed_model_components;
ALTER TABLE deployed_models
    DROP CONSTRAINT deployed_models_upstream_or_composite,
    DROP COLUMN capacity, DROP COLUMN backoff_max_total_ms, DROP COLUMN backoff_jitter, DROP COLUMN backoff_factor,
    DROP COLUMN backoff_max_ms, DROP COLUMN backoff_initial_ms, DROP COLUMN fallback_max_attempts,
    DROP COLUMN fallback_with_replacement, DROP COLUMN fallback_on_rate_limit, DROP COLUMN fallback_on_status,
    DROP COLUMN fallback_enabled, DROP COLUMN lb_strategy, DROP COLUMN is_composite;
ALTER TABLE deployed_models ALTER COLUMN hosted_on SET NOT NULL, ALTER COLUMN model_name SET NOT NULL;
