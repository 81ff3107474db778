-- Up Migration
-- The Batches API (docs/batches.md): uploaded files, batches and each batch request's state.

-- Files: the owner's uploads (purpose 'batch') and the output and error files Tollgate writes
-- ('batch_output'). The bytes live in R2 under object_key; a deleted file keeps its row.
CREATE TABLE batch_files (
    id          text PRIMARY KEY CHECK (id ~ '^file-[0-9a-f]{32}$'),
    user_id     uuid NOT NULL REFERENCES users (id),
    api_key_id  uuid,
    purpose     text NOT NULL CHECK (purpose IN ('batch', 'batch_output')),
    filename    text NOT NULL,
    bytes       bigint NOT NULL CHECK (bytes >= 0),
    line_count  integer NOT NULL DEFAULT 0,
    -- The request URLs the file's lines name (a batch's endpoint must be the only one).
    urls        text[] NOT NULL DEFAULT '{}',
    object_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX batch_files_owner_idx ON batch_files (user_id, created_at DESC) WHERE deleted_at IS NULL;

CREATE TABLE batches (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id),
    -- The key that created the batch: its requests run as this key (access, limits, pricing).
    api_key_id        uuid NOT NULL REFERENCES api_keys (id),
    input_file_id     text NOT NULL REFERENCES batch_files (id),
    endpoint          text NOT NULL,
    completion_window text NOT NULL,
    metadata          jsonb,
    status            text NOT NULL CHECK (status IN ('validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled')),
    -- While finalizing: the status it ends in ('completed' or 'expired').
    ending            text CHECK (ending IN ('completed', 'expired')),
    total             integer NOT NULL DEFAULT 0,
    completed         integer NOT NULL DEFAULT 0,
    failed            integer NOT NULL DEFAULT 0,
    output_file_id    text REFERENCES batch_files (id),
    error_file_id     text REFERENCES batch_files (id),
    errors            jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    in_progress_at    timestamptz,
    finalizing_at     timestamptz,
    completed_at      timestamptz,
    failed_at         timestamptz,
    expired_at        timestamptz,
    cancelling_at     timestamptz,
    cancelled_at      timestamptz
);
CREATE INDEX batches_owner_idx ON batches (user_id, created_at DESC, id DESC);
CREATE INDEX batches_created_idx ON batches (created_at DESC, id DESC);

-- One row per line of the input file. A request is claimed (state 'running', a claim token and a
-- lease) before its upstream call and its result is recorded under that claim before the queue
-- message is acked, so a redelivered message finds the result and calls nothing.
CREATE TABLE batch_requests (
    batch_id      uuid NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    custom_id     text NOT NULL,
    line          integer NOT NULL,
    request_id    uuid NOT NULL,
    url           text NOT NULL,
    -- body.model: requests in flight are bounded per model (BATCH_MODEL_CONCURRENCY).
    model         text NOT NULL,
    body          text NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'completed', 'failed', 'expired', 'cancelled')),
    attempts      integer NOT NULL DEFAULT 0,
    claim         uuid,
    lease_until   timestamptz,
    status_code   integer,
    response_body text,
    error         jsonb,
    event_id      uuid,
    started_at    timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (batch_id, custom_id)
);
CREATE INDEX batch_requests_line_idx ON batch_requests (batch_id, line);
CREATE INDEX batch_requests_running_idx ON batch_requests (model) WHERE state = 'running';

-- Claims one batch request for a run (workers/gateway/src/batch-runner.ts): pending, or running
-- with a lapsed lease; its batch in progress and unexpired; fewer than p_per_model requests of its
-- model running. The advisory lock on the model (held to the end of the calling statement's
-- transaction) serialises claimers of a model, and the UPDATE, being a new statement of a volatile
-- function, sees every claim committed before the lock was granted: the bound is exact, and the
-- lock is held for one statement, with no client round trip inside it.
CREATE FUNCTION tollgate_claim_batch_request(p_batch uuid, p_custom_id text, p_claim uuid, p_lease_ms bigint, p_per_model integer)
RETURNS TABLE (url text, body text, request_id uuid, attempts integer, created_at timestamptz, completion_window text, expires_at timestamptz, key_hash text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_model text;
BEGIN
    SELECT r.model INTO v_model FROM batch_requests r WHERE r.batch_id = p_batch AND r.custom_id = p_custom_id;
    IF v_model IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('tollgate-batch-model:' || v_model));
    RETURN QUERY
    UPDATE batch_requests r
       SET state = 'running', attempts = r.attempts + 1, claim = p_claim,
           lease_until = now() + p_lease_ms * interval '1 millisecond', started_at = coalesce(r.started_at, now())
      FROM batches b
     WHERE r.batch_id = p_batch AND r.custom_id = p_custom_id AND b.id = r.batch_id
       AND b.status = 'in_progress' AND b.expires_at > now()
       AND (r.state = 'pending' OR (r.state = 'running' AND r.lease_until < now()))
       AND (SELECT count(*) FROM batch_requests x WHERE x.model = r.model AND x.state = 'running' AND x.lease_until > now()) < p_per_model
    RETURNING r.url, r.body, r.request_id, r.attempts, b.created_at, b.completion_window, b.expires_at,
              (SELECT k.key_hash FROM api_keys k WHERE k.id = b.api_key_id);
END
$$;

-- Down Migration
DROP FUNCTION tollgate_claim_batch_request(uuid, text, uuid, bigint, integer);
DROP TABLE batch_requests;
DROP TABLE batches;
DROP TABLE batch_files;
