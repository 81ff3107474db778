-- Up Migration
-- tollgate_write_usage with the analytics columns usage_source, client_disconnected and
-- gateway_cost (1796000000000_metering-integrity.sql). Generated from shared/sql/usage-write.ts
-- (usageWriteFunctionSql); a test fails if the installed function and that builder differ. The
-- argument list changed, so the old function is dropped rather than replaced (an overload would
-- be left behind).
DROP FUNCTION tollgate_write_usage(uuid[], timestamp with time zone[], text[], text[], text[], text[], integer[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], boolean[], uuid[], uuid[], text[], text[], numeric[], numeric[], numeric[], numeric[], uuid[], uuid[], text[], text[], text[], text[], text[], text[], uuid[], uuid[], text[], text[], text[]);
CREATE OR REPLACE FUNCTION tollgate_write_usage(p_event_id uuid[], p_timestamp timestamp with time zone[], p_method text[], p_uri text[], p_model text[], p_served_model text[], p_status_code integer[], p_duration_ms bigint[], p_duration_to_first_byte_ms bigint[], p_prompt_tokens bigint[], p_completion_tokens bigint[], p_reasoning_tokens bigint[], p_total_tokens bigint[], p_cache_read_tokens bigint[], p_cache_write_5m_tokens bigint[], p_cache_write_1h_tokens bigint[], p_cache_write_24h_tokens bigint[], p_response_type text[], p_finish_reason text[], p_truncated boolean[], p_user_id uuid[], p_api_key_id uuid[], p_access_source text[], p_provider_name text[], p_input_price_per_token numeric[], p_output_price_per_token numeric[], p_total_cost numeric[], p_uncached_cost numeric[], p_fusillade_batch_id uuid[], p_fusillade_request_id uuid[], p_custom_id text[], p_request_origin text[], p_batch_sla text[], p_batch_request_source text[], p_trace_id text[], p_user_agent text[], p_usage_source text[], p_client_disconnected boolean[], p_gateway_cost numeric[], p_basis_key_ids uuid[], p_basis_key_users uuid[], p_basis_key_purposes text[], p_basis_aliases text[], p_basis_fingerprints text[])
RETURNS TABLE (basis_current boolean, recorded integer, charged integer, users text[], balances text[], deltas text[], last_seqs text[])
LANGUAGE plpgsql AS $body$
#variable_conflict use_column
BEGIN
  RETURN QUERY
WITH g AS (
  SELECT (SELECT count(*) FROM api_keys k
                 JOIN unnest($40::uuid[], $41::uuid[], $42::text[]) AS b(id, user_id, purpose)
                   ON k.id = b.id AND k.user_id = b.user_id AND k.purpose = b.purpose) = cardinality($40::uuid[])
       AND (SELECT count(*) FROM (SELECT dm.alias,
            md5(ROW(dm.id, ie.name,
                    ARRAY(SELECT mt FROM model_tariffs mt WHERE mt.deployed_model_id = dm.id ORDER BY mt.id),
                    ARRAY(SELECT ct FROM model_cache_tariffs ct WHERE ct.deployed_model_id = dm.id ORDER BY ct.id))::text) AS fingerprint
       FROM deployed_models dm
       LEFT JOIN inference_endpoints ie ON ie.id = dm.hosted_on
      WHERE dm.alias = ANY($43::text[])) f
                 JOIN unnest($43::text[], $44::text[]) AS b(alias, fingerprint)
                   ON f.alias = b.alias AND f.fingerprint = b.fingerprint) = cardinality($43::text[]) AS current
), a AS (
  INSERT INTO http_analytics (event_id, timestamp, method, uri, model, served_model, status_code, duration_ms, duration_to_first_byte_ms, prompt_tokens, completion_tokens, reasoning_tokens, total_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_write_24h_tokens, response_type, finish_reason, truncated, user_id, api_key_id, access_source, provider_name, input_price_per_token, output_price_per_token, total_cost, uncached_cost, fusillade_batch_id, fusillade_request_id, custom_id, request_origin, batch_sla, batch_request_source, trace_id, user_agent, usage_source, client_disconnected, gateway_cost) SELECT unnest($1::uuid[]), unnest($2::timestamptz[]), unnest($3::text[]), unnest($4::text[]), unnest($5::text[]), unnest($6::text[]), unnest($7::int[]), unnest($8::bigint[]), unnest($9::bigint[]), unnest($10::bigint[]), unnest($11::bigint[]), unnest($12::bigint[]), unnest($13::bigint[]), unnest($14::bigint[]), unnest($15::bigint[]), unnest($16::bigint[]), unnest($17::bigint[]), unnest($18::text[]), unnest($19::text[]), unnest($20::boolean[]), unnest($21::uuid[]), unnest($22::uuid[]), unnest($23::text[]), unnest($24::text[]), unnest($25::numeric[]), unnest($26::numeric[]), unnest($27::numeric[]), unnest($28::numeric[]), unnest($29::uuid[]), unnest($30::uuid[]), unnest($31::text[]), unnest($32::text[]), unnest($33::text[]), unnest($34::text[]), unnest($35::text[]), unnest($36::text[]), unnest($37::text[]), unnest($38::boolean[]), unnest($39::numeric[]) WHERE (SELECT g.current FROM g) ON CONFLICT (event_id) DO NOTHING RETURNING event_id, user_id, total_cost, model, prompt_tokens, completion_tokens, fusillade_batch_id, api_key_id
), l AS (
  INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id, description, fusillade_batch_id, api_key_id, created_by)
  SELECT a.user_id, 'usage', a.total_cost, 'usage:' || a.event_id, 'API usage: ' || a.model || ' (' || a.prompt_tokens || ' input + ' || a.completion_tokens || ' output tokens)', a.fusillade_batch_id, a.api_key_id, NULL::uuid
    FROM a
   WHERE a.user_id IS NOT NULL AND a.total_cost > 0
   ORDER BY a.event_id
  ON CONFLICT (source_id) DO NOTHING
  RETURNING seq, user_id, transaction_type, amount
), d AS (
  SELECT l.user_id, sum(CASE WHEN l.transaction_type IN ('admin_grant', 'purchase') THEN l.amount ELSE -l.amount END) AS delta, max(l.seq) AS last_seq FROM l GROUP BY l.user_id
), f AS (
  INSERT INTO user_balance_checkpoints AS c (user_id, balance, last_seq)
  SELECT d.user_id,
         CASE WHEN EXISTS (SELECT 1 FROM user_balance_checkpoints x WHERE x.user_id = d.user_id) THEN d.delta
              ELSE coalesce((SELECT sum(CASE WHEN t.transaction_type IN ('admin_grant', 'purchase') THEN t.amount ELSE -t.amount END) FROM credits_transactions t WHERE t.user_id = d.user_id), 0) + d.delta
         END,
         d.last_seq
    FROM d
   ORDER BY d.user_id
  ON CONFLICT (user_id) DO UPDATE
     SET balance = c.balance + (SELECT d2.delta FROM d d2 WHERE d2.user_id = EXCLUDED.user_id),
         last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq),
         updated_at = now()
  RETURNING c.user_id, c.balance, c.last_seq
)
SELECT (SELECT g.current FROM g) AS basis_current,
       (SELECT count(*) FROM a)::int AS recorded,
       (SELECT count(*) FROM l)::int AS charged,
       coalesce((SELECT array_agg(f.user_id::text ORDER BY f.user_id) FROM f), '{}') AS users,
       coalesce((SELECT array_agg(f.balance::text ORDER BY f.user_id) FROM f), '{}') AS balances,
       coalesce((SELECT array_agg(d.delta::text ORDER BY f.user_id) FROM f JOIN d ON d.user_id = f.user_id), '{}') AS deltas,
       coalesce((SELECT array_agg(f.last_seq::text ORDER BY f.user_id) FROM f), '{}') AS last_seqs;
END
$body$;

-- Down Migration
DROP FUNCTION tollgate_write_usage(uuid[], timestamp with time zone[], text[], text[], text[], text[], integer[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[], text[], boolean[], uuid[], uuid[], text[], text[], numeric[], numeric[], numeric[], numeric[], uuid[], uuid[], text[], text[], text[], text[], text[], text[], text[], boolean[], numeric[], uuid[], uuid[], text[], text[], text[]);
CREATE OR REPLACE FUNCTION tollgate_write_usage(p_event_id uuid[], p_timestamp timestamp with time zone[], p_method text[], p_uri text[], p_model text[], p_served_model text[], p_status_code integer[], p_duration_ms bigint[], p_duration_to_first_byte_ms bigint[], p_prompt_tokens bigint[], p_completion_tokens bigint[], p_reasoning_tokens bigint[], p_total_tokens bigint[], p_cache_read_tokens bigint[], p_cache_write_5m_tokens bigint[], p_cache_write_1h_tokens bigint[], p_cache_write_24h_tokens bigint[], p_response_type text[], p_finish_reason text[], p_truncated boolean[], p_user_id uuid[], p_api_key_id uuid[], p_access_source text[], p_provider_name text[], p_input_price_per_token numeric[], p_output_price_per_token numeric[], p_total_cost numeric[], p_uncached_cost numeric[], p_fusillade_batch_id uuid[], p_fusillade_request_id uuid[], p_custom_id text[], p_request_origin text[], p_batch_sla text[], p_batch_request_source text[], p_trace_id text[], p_user_agent text[], p_basis_key_ids uuid[], p_basis_key_users uuid[], p_basis_key_purposes text[], p_basis_aliases text[], p_basis_fingerprints text[])
RETURNS TABLE (basis_current boolean, recorded integer, charged integer, users text[], balances text[], deltas text[], last_seqs text[])
LANGUAGE plpgsql AS $body$
#variable_conflict use_column
BEGIN
  RETURN QUERY
WITH g AS (
  SELECT (SELECT count(*) FROM api_keys k
                 JOIN unnest($37::uuid[], $38::uuid[], $39::text[]) AS b(id, user_id, purpose)
                   ON k.id = b.id AND k.user_id = b.user_id AND k.purpose = b.purpose) = cardinality($37::uuid[])
       AND (SELECT count(*) FROM (SELECT dm.alias,
            md5(ROW(dm.id, ie.name,
                    ARRAY(SELECT mt FROM model_tariffs mt WHERE mt.deployed_model_id = dm.id ORDER BY mt.id),
                    ARRAY(SELECT ct FROM model_cache_tariffs ct WHERE ct.deployed_model_id = dm.id ORDER BY ct.id))::text) AS fingerprint
       FROM deployed_models dm
       LEFT JOIN inference_endpoints ie ON ie.id = dm.hosted_on
      WHERE dm.alias = ANY($40::text[])) f
                 JOIN unnest($40::text[], $41::text[]) AS b(alias, fingerprint)
                   ON f.alias = b.alias AND f.fingerprint = b.fingerprint) = cardinality($40::text[]) AS current
), a AS (
  INSERT INTO http_analytics (event_id, timestamp, method, uri, model, served_model, status_code, duration_ms, duration_to_first_byte_ms, prompt_tokens, completion_tokens, reasoning_tokens, total_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_write_24h_tokens, response_type, finish_reason, truncated, user_id, api_key_id, access_source, provider_name, input_price_per_token, output_price_per_token, total_cost, uncached_cost, fusillade_batch_id, fusillade_request_id, custom_id, request_origin, batch_sla, batch_request_source, trace_id, user_agent) SELECT unnest($1::uuid[]), unnest($2::timestamptz[]), unnest($3::text[]), unnest($4::text[]), unnest($5::text[]), unnest($6::text[]), unnest($7::int[]), unnest($8::bigint[]), unnest($9::bigint[]), unnest($10::bigint[]), unnest($11::bigint[]), unnest($12::bigint[]), unnest($13::bigint[]), unnest($14::bigint[]), unnest($15::bigint[]), unnest($16::bigint[]), unnest($17::bigint[]), unnest($18::text[]), unnest($19::text[]), unnest($20::boolean[]), unnest($21::uuid[]), unnest($22::uuid[]), unnest($23::text[]), unnest($24::text[]), unnest($25::numeric[]), unnest($26::numeric[]), unnest($27::numeric[]), unnest($28::numeric[]), unnest($29::uuid[]), unnest($30::uuid[]), unnest($31::text[]), unnest($32::text[]), unnest($33::text[]), unnest($34::text[]), unnest($35::text[]), unnest($36::text[]) WHERE (SELECT g.current FROM g) ON CONFLICT (event_id) DO NOTHING RETURNING event_id, user_id, total_cost, model, prompt_tokens, completion_tokens, fusillade_batch_id, api_key_id
), l AS (
  INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id, description, fusillade_batch_id, api_key_id, created_by)
  SELECT a.user_id, 'usage', a.total_cost, 'usage:' || a.event_id, 'API usage: ' || a.model || ' (' || a.prompt_tokens || ' input + ' || a.completion_tokens || ' output tokens)', a.fusillade_batch_id, a.api_key_id, NULL::uuid
    FROM a
   WHERE a.user_id IS NOT NULL AND a.total_cost > 0
   ORDER BY a.event_id
  ON CONFLICT (source_id) DO NOTHING
  RETURNING seq, user_id, transaction_type, amount
), d AS (
  SELECT l.user_id, sum(CASE WHEN l.transaction_type IN ('admin_grant', 'purchase') THEN l.amount ELSE -l.amount END) AS delta, max(l.seq) AS last_seq FROM l GROUP BY l.user_id
), f AS (
  INSERT INTO user_balance_checkpoints AS c (user_id, balance, last_seq)
  SELECT d.user_id,
         CASE WHEN EXISTS (SELECT 1 FROM user_balance_checkpoints x WHERE x.user_id = d.user_id) THEN d.delta
              ELSE coalesce((SELECT sum(CASE WHEN t.transaction_type IN ('admin_grant', 'purchase') THEN t.amount ELSE -t.amount END) FROM credits_transactions t WHERE t.user_id = d.user_id), 0) + d.delta
         END,
         d.last_seq
    FROM d
   ORDER BY d.user_id
  ON CONFLICT (user_id) DO UPDATE
     SET balance = c.balance + (SELECT d2.delta FROM d d2 WHERE d2.user_id = EXCLUDED.user_id),
         last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq),
         updated_at = now()
  RETURNING c.user_id, c.balance, c.last_seq
)
SELECT (SELECT g.current FROM g) AS basis_current,
       (SELECT count(*) FROM a)::int AS recorded,
       (SELECT count(*) FROM l)::int AS charged,
       coalesce((SELECT array_agg(f.user_id::text ORDER BY f.user_id) FROM f), '{}') AS users,
       coalesce((SELECT array_agg(f.balance::text ORDER BY f.user_id) FROM f), '{}') AS balances,
       coalesce((SELECT array_agg(d.delta::text ORDER BY f.user_id) FROM f JOIN d ON d.user_id = f.user_id), '{}') AS deltas,
       coalesce((SELECT array_agg(f.last_seq::text ORDER BY f.user_id) FROM f), '{}') AS last_seqs;
END
$body$;
