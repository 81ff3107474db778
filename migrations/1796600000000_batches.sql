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

-- Down Migration
DROP TABLE batch_requests;
DROP TABLE batches;
DROP TABLE batch_files;
