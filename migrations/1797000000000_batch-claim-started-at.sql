-- Up Migration
-- A batch request's started_at is the moment its first claim was granted (clock_timestamp(), read
-- after the model's advisory lock), not the start of the claiming transaction (now(), before the
-- wait for that lock): a claim queued behind others would otherwise seem to have started while it
-- was still waiting, and its recorded duration would include the wait.
CREATE OR REPLACE FUNCTION tollgate_claim_batch_request(p_batch uuid, p_custom_id text, p_claim uuid, p_lease_ms bigint, p_per_model integer)
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
           lease_until = now() + p_lease_ms * interval '1 millisecond', started_at = coalesce(r.started_at, clock_timestamp())
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
CREATE OR REPLACE FUNCTION tollgate_claim_batch_request(p_batch uuid, p_custom_id text, p_claim uuid, p_lease_ms bigint, p_per_model integer)
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
