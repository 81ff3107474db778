-- Up Migration
-- Hourly and daily rollup of http_analytics for the admin API's long aggregate windows (the
-- console's 30-day overview). The consumer adds the rows each usage write inserted, in the same
-- transaction (shared/sql/analytics-rollup.ts documents it, the histogram and its error bound).

-- Log-spaced latency histogram bucket: 0 for 0 ms, else 1 + floor(8 · log2(ms)), so bucket b holds
-- [2^((b-1)/8), 2^(b/8)) ms. HISTOGRAM_BUCKETS_PER_DOUBLING in the TypeScript must match the 8.
CREATE FUNCTION tollgate_histogram_bucket(ms bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN ms IS NULL THEN NULL WHEN ms < 1 THEN 0 ELSE 1 + floor(ln(ms::float8) / ln(2.0) * 8)::integer END $$;

-- Sparse histograms (buckets ascending, counts) merge by adding the counts of equal buckets.
CREATE FUNCTION tollgate_histogram_merge(ab integer[], an bigint[], bb integer[], bn bigint[], OUT b integer[], OUT n bigint[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(array_agg(x.b ORDER BY x.b), '{}'), coalesce(array_agg(x.n ORDER BY x.b), '{}')
        FROM (SELECT u.b, sum(u.n)::bigint AS n
                FROM (SELECT * FROM unnest(ab, an) UNION ALL SELECT * FROM unnest(bb, bn)) AS u(b, n)
               GROUP BY u.b) AS x $$;

CREATE TABLE http_analytics_rollup (
    period            text NOT NULL CHECK (period IN ('hour', 'day')),
    start             timestamptz NOT NULL,
    -- NULL for requests refused before a model was named, as in http_analytics.
    model             text,
    requests          bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL,
    total_cost        numeric NOT NULL,
    -- Latency histograms: bucket numbers ascending and their counts (see tollgate_histogram_bucket).
    duration_buckets  integer[] NOT NULL,
    duration_counts   bigint[] NOT NULL,
    ttfb_buckets      integer[] NOT NULL,
    ttfb_counts       bigint[] NOT NULL,
    CONSTRAINT http_analytics_rollup_key UNIQUE NULLS NOT DISTINCT (period, start, model)
);

-- Backfill from the rows already written (generated from rebuildRollupSql without its range).
WITH n AS (SELECT * FROM (SELECT "timestamp", model, prompt_tokens, completion_tokens, cache_read_tokens, total_cost, duration_ms, duration_to_first_byte_ms FROM http_analytics ) AS src),
g AS (
  SELECT p.period, date_trunc(p.period, n."timestamp", 'UTC') AS start, n.model, n.prompt_tokens, n.completion_tokens,
         n.cache_read_tokens, n.total_cost, tollgate_histogram_bucket(n.duration_ms) AS db,
         tollgate_histogram_bucket(n.duration_to_first_byte_ms) AS tb
    FROM n CROSS JOIN (VALUES ('hour'), ('day')) AS p(period)
), t AS (
  SELECT period, start, model, count(*) AS requests, sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
         sum(cache_read_tokens) AS cache_read_tokens, coalesce(sum(total_cost), 0) AS total_cost
    FROM g GROUP BY period, start, model
), dh AS (
  SELECT period, start, model, array_agg(db ORDER BY db) AS b, array_agg(c ORDER BY db) AS n
    FROM (SELECT period, start, model, db, count(*) AS c FROM g GROUP BY period, start, model, db) x GROUP BY period, start, model
), th AS (
  SELECT period, start, model, array_agg(tb ORDER BY tb) AS b, array_agg(c ORDER BY tb) AS n
    FROM (SELECT period, start, model, tb, count(*) AS c FROM g WHERE tb IS NOT NULL GROUP BY period, start, model, tb) x GROUP BY period, start, model
)
INSERT INTO http_analytics_rollup AS r (period, start, model, requests, prompt_tokens, completion_tokens, cache_read_tokens, total_cost,
                                        duration_buckets, duration_counts, ttfb_buckets, ttfb_counts)
SELECT t.period, t.start, t.model, t.requests, t.prompt_tokens, t.completion_tokens, t.cache_read_tokens, t.total_cost,
       coalesce(dh.b, '{}'), coalesce(dh.n, '{}'), coalesce(th.b, '{}'), coalesce(th.n, '{}')
  FROM t
  LEFT JOIN dh ON dh.period = t.period AND dh.start = t.start AND dh.model IS NOT DISTINCT FROM t.model
  LEFT JOIN th ON th.period = t.period AND th.start = t.start AND th.model IS NOT DISTINCT FROM t.model
 ORDER BY t.period, t.start, t.model
ON CONFLICT (period, start, model) DO UPDATE
   SET requests = r.requests + EXCLUDED.requests,
       prompt_tokens = r.prompt_tokens + EXCLUDED.prompt_tokens,
       completion_tokens = r.completion_tokens + EXCLUDED.completion_tokens,
       cache_read_tokens = r.cache_read_tokens + EXCLUDED.cache_read_tokens,
       total_cost = r.total_cost + EXCLUDED.total_cost,
       (duration_buckets, duration_counts) = (SELECT m.b, m.n FROM tollgate_histogram_merge(r.duration_buckets, r.duration_counts, EXCLUDED.duration_buckets, EXCLUDED.duration_counts) m),
       (ttfb_buckets, ttfb_counts) = (SELECT m.b, m.n FROM tollgate_histogram_merge(r.ttfb_buckets, r.ttfb_counts, EXCLUDED.ttfb_buckets, EXCLUDED.ttfb_counts) m);

-- Down Migration
DROP TABLE http_analytics_rollup;
DROP FUNCTION tollgate_histogram_merge(integer[], bigint[], integer[], bigint[]);
DROP FUNCTION tollgate_histogram_bucket(bigint);
