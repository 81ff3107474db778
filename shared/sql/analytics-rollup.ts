/**
 * The hourly and daily rollup of `http_analytics` (table `http_analytics_rollup`, migration
 * 1796400000002), which serves the admin API's long aggregate windows over all traffic.
 *
 * One row per (period = hour | day, start, model): request count, token sums, the cost sum as
 * NUMERIC (exact), and two histograms — of `duration_ms` and `duration_to_first_byte_ms` — with
 * fixed log-spaced buckets, stored sparse as two parallel arrays (buckets ascending, counts; arrays
 * rather than jsonb because the planner estimates their unnest well). Histograms merge by
 * adding counts, so any set of rows (hours of a day, days of a month) merges exactly; a percentile
 * read from a merged histogram is the representative value of the bucket that holds the requested
 * rank. Bucket b ≥ 1 holds [2^((b−1)/8), 2^(b/8)) ms and is represented by 2^((b−½)/8): the value
 * returned is within a factor 2^(1/16) (±4.4 %) of a value at that rank (nearest rank; raw
 * aggregation interpolates with percentile_cont instead). Bucket 0 holds 0 ms.
 *
 * The consumer keeps it in the SAME transaction as the usage write: `writeUsageAndRollup` runs the
 * usage statement (tollgate_write_usage) and then `rollupNewRowsSql`, which adds only the analytics
 * rows this transaction inserted (their `xmin` is the transaction's id), so a redelivered event —
 * not inserted again — is never added twice, and a rolled-back write adds nothing. Rollup rows are
 * upserted in (period, start, model) order after the ledger's locks, so concurrent writers queue
 * instead of deadlocking.
 */
import type { SqlClient } from "./client.ts";
import type { PricingBasis, UsageWriteResult } from "./usage-write.ts";
import { writeUsage } from "./usage-write.ts";
import type { AnalyticsRow } from "./http-analytics.ts";
import type { AnalyticsBucket, Sql } from "./analytics-query.ts";

/** Histogram buckets per doubling (tollgate_histogram_bucket in the migration uses the same). */
export const HISTOGRAM_BUCKETS_PER_DOUBLING = 8;

/** The value a histogram bucket stands for (ms): its geometric middle; 0 for bucket 0. */
export function histogramValue(bucket: number): number {
  if (bucket <= 0) return 0;
  return Math.round(2 ** ((bucket - 0.5) / HISTOGRAM_BUCKETS_PER_DOUBLING) * 10) / 10;
}

/** The worst relative error of histogramValue against any value in its bucket. */
export const HISTOGRAM_RELATIVE_ERROR = 2 ** (1 / (2 * HISTOGRAM_BUCKETS_PER_DOUBLING)) - 1;

/**
 * The rollup rows' aggregate over a source of analytics rows (`source`: a FROM item with the
 * columns timestamp, model, prompt_tokens, completion_tokens, cache_read_tokens, total_cost,
 * duration_ms, duration_to_first_byte_ms), added to what the rollup holds.
 */
function upsertFromSql(source: string): string {
  return `WITH n AS (SELECT * FROM ${source}),
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
       (ttfb_buckets, ttfb_counts) = (SELECT m.b, m.n FROM tollgate_histogram_merge(r.ttfb_buckets, r.ttfb_counts, EXCLUDED.ttfb_buckets, EXCLUDED.ttfb_counts) m)`;
}

const ROLLUP_SOURCE_COLUMNS = `"timestamp", model, prompt_tokens, completion_tokens, cache_read_tokens, total_cost, duration_ms, duration_to_first_byte_ms`;

/**
 * Adds the rows of `eventIds` that THIS transaction inserted to the rollup (run it after the usage
 * write, before COMMIT). The unique event_id index finds the candidates; `xmin` keeps only ours.
 */
export function rollupNewRowsSql(eventIds: readonly string[]): Sql {
  return {
    text: upsertFromSql(`(SELECT ${ROLLUP_SOURCE_COLUMNS} FROM http_analytics WHERE event_id = ANY($1::uuid[]) AND xmin = pg_current_xact_id()::xid) AS src`),
    params: [eventIds],
  };
}

/**
 * Recomputes the rollup for [from, to) (both UTC midnights) from the raw rows: for a backfill, or
 * after rows were written without it. Locks the rollup against concurrent writers for the
 * transaction, so a consumer's in-flight write adds its rows after the recomputation, never twice.
 * Run the three statements in one transaction.
 */
export function rebuildRollupSql(fromDay: string, toDay: string): Sql[] {
  return [
    { text: "LOCK TABLE http_analytics_rollup IN EXCLUSIVE MODE", params: [] },
    { text: "DELETE FROM http_analytics_rollup WHERE start >= $1::timestamptz AND start < $2::timestamptz", params: [fromDay, toDay] },
    {
      text: upsertFromSql(`(SELECT ${ROLLUP_SOURCE_COLUMNS} FROM http_analytics WHERE "timestamp" >= $1::timestamptz AND "timestamp" < $2::timestamptz) AS src`),
      params: [fromDay, toDay],
    },
  ];
}

/**
 * The usage write and the rollup of what it inserted, in one transaction (one commit: the rollup
 * can never disagree with the rows and the ledger). Without new rows (a redelivery) the rollup
 * statement is skipped.
 */
export async function writeUsageAndRollup(client: SqlClient, rows: readonly AnalyticsRow[], basis: PricingBasis): Promise<UsageWriteResult> {
  if (rows.length === 0) return writeUsage(client, rows, basis);
  await client.query("BEGIN");
  try {
    const written = await writeUsage(client, rows, basis);
    if (written.basisCurrent && written.recorded > 0) {
      const q = rollupNewRowsSql(rows.map((r) => r.message.event_id));
      try {
        await client.query(q.text, q.params);
      } catch (err) {
        // 42P01 undefined_table / 42883 undefined_function: this code is newer than the schema.
        const code = (err as { code?: unknown }).code;
        if (code === "42P01" || code === "42883") throw new Error(`the database has no analytics rollup of this version: apply the migrations (npm run db:migrate) before deploying the consumer. (${(err as Error).message})`);
        throw err;
      }
    }
    await client.query("COMMIT");
    return written;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading it
// ---------------------------------------------------------------------------------------------

/** Windows at least this long are read from the rollup (shorter ones are cheap on raw rows, and exact). */
export const ROLLUP_MIN_WINDOW_MS = 48 * 3_600_000;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * How [after, before) splits into what each source serves: whole days from daily rows (only with
 * daily buckets), whole hours outside them from hourly rows, and the ragged ends from raw rows.
 *
 * @example rollupPlan("2026-01-01T10:30:00Z", "2026-01-05T08:15:00Z", "day")
 *   // days [01-02, 01-05), hours [01-01T11, 01-02) ∪ [01-05T00, 01-05T08), raw the rest
 */
export function rollupPlan(after: string, before: string, bucket: AnalyticsBucket) {
  const a = Date.parse(after);
  const b = Date.parse(before);
  const h1 = Math.ceil(a / HOUR_MS) * HOUR_MS;
  const h2 = Math.max(h1, Math.floor(b / HOUR_MS) * HOUR_MS);
  let d1 = Math.ceil(a / DAY_MS) * DAY_MS;
  let d2 = Math.max(d1, Math.floor(b / DAY_MS) * DAY_MS);
  if (bucket === "hour") d1 = d2 = h1; // no daily rows: an empty day range
  return { after: iso(a), before: iso(b), hourFrom: iso(h1), hourTo: iso(h2), dayFrom: iso(d1), dayTo: iso(d2) };
}

/**
 * The aggregate of `aggregateRequestsSql` (same columns and levels) for the whole traffic or one
 * model, from the rollup plus raw rows for the ragged ends. Sums are exact; percentiles come as
 * histogram buckets (`*_bucket`, map them with histogramValue).
 */
export function aggregateFromRollupSql(after: string, before: string, bucket: AnalyticsBucket, model?: string): Sql {
  const p = rollupPlan(after, before, bucket);
  const params: unknown[] = [bucket, p.after, p.before, p.hourFrom, p.hourTo, p.dayFrom, p.dayTo];
  let modelFilter = "";
  if (model !== undefined) {
    params.push(model);
    modelFilter = ` AND model = $${params.length}`;
  }
  const text = `WITH src AS (
  SELECT start AS bucket, model AS key, requests, prompt_tokens, completion_tokens, cache_read_tokens, total_cost,
         duration_buckets, duration_counts, ttfb_buckets, ttfb_counts
    FROM http_analytics_rollup
   WHERE period = 'day' AND start >= $6::timestamptz AND start < $7::timestamptz${modelFilter}
  UNION ALL
  SELECT date_trunc($1, start, 'UTC'), model, requests, prompt_tokens, completion_tokens, cache_read_tokens, total_cost,
         duration_buckets, duration_counts, ttfb_buckets, ttfb_counts
    FROM http_analytics_rollup
   WHERE period = 'hour' AND start >= $4::timestamptz AND start < $5::timestamptz
     AND NOT (start >= $6::timestamptz AND start < $7::timestamptz)${modelFilter}
  UNION ALL
  SELECT date_trunc($1, "timestamp", 'UTC'), model, 1, prompt_tokens, completion_tokens, cache_read_tokens, coalesce(total_cost, 0),
         ARRAY[tollgate_histogram_bucket(duration_ms)], ARRAY[1::bigint],
         CASE WHEN duration_to_first_byte_ms IS NULL THEN '{}'::int[] ELSE ARRAY[tollgate_histogram_bucket(duration_to_first_byte_ms)] END,
         CASE WHEN duration_to_first_byte_ms IS NULL THEN '{}'::bigint[] ELSE ARRAY[1::bigint] END
    FROM http_analytics
   WHERE (("timestamp" >= $2::timestamptz AND "timestamp" < $4::timestamptz) OR ("timestamp" >= $5::timestamptz AND "timestamp" < $3::timestamptz))${modelFilter}
), sums AS (
  SELECT GROUPING(bucket, key) AS level, bucket, key,
         coalesce(sum(requests), 0)::float8 AS requests, coalesce(sum(prompt_tokens), 0)::float8 AS prompt_tokens,
         coalesce(sum(completion_tokens), 0)::float8 AS completion_tokens, coalesce(sum(cache_read_tokens), 0)::float8 AS cached_tokens,
         coalesce(sum(total_cost), 0)::text AS total_cost
    FROM src GROUP BY GROUPING SETS ((), (key), (bucket, key))
), hist AS (
  SELECT GROUPING(bucket, key) AS level, bucket, key, h.metric, h.b, sum(h.n) AS n
    FROM src, LATERAL (SELECT 'd' AS metric, d.b, d.n FROM unnest(src.duration_buckets, src.duration_counts) AS d(b, n)
                       UNION ALL
                       SELECT 't', t.b, t.n FROM unnest(src.ttfb_buckets, src.ttfb_counts) AS t(b, n)) AS h
   GROUP BY GROUPING SETS ((h.metric, h.b), (key, h.metric, h.b), (bucket, key, h.metric, h.b))
), run AS (
  SELECT level, bucket, key, metric, b,
         sum(n) OVER (PARTITION BY level, bucket, key, metric ORDER BY b) AS running,
         sum(n) OVER (PARTITION BY level, bucket, key, metric) AS total
    FROM hist
), pct AS (
  SELECT level, coalesce(bucket, '-infinity') AS bucket_j, key IS NULL AS key_null, coalesce(key, '') AS key_j,
         min(b) FILTER (WHERE metric = 'd' AND running >= ceil(0.5 * total)) AS d50,
         min(b) FILTER (WHERE metric = 'd' AND running >= ceil(0.95 * total)) AS d95,
         min(b) FILTER (WHERE metric = 't' AND running >= ceil(0.5 * total)) AS t50,
         min(b) FILTER (WHERE metric = 't' AND running >= ceil(0.95 * total)) AS t95
    FROM run GROUP BY level, bucket, key
)
SELECT s.level, s.bucket, s.key, s.requests, s.prompt_tokens, s.completion_tokens, s.cached_tokens, s.total_cost,
       p.d50 AS p50_duration_bucket, p.d95 AS p95_duration_bucket, p.t50 AS p50_ttfb_bucket, p.t95 AS p95_ttfb_bucket
  FROM sums s
  -- Hashable join keys: a NULL model is a group of its own, and the grouping level tells the
  -- totals' NULL bucket and key from real ones.
  LEFT JOIN pct p ON p.level = s.level AND p.bucket_j = coalesce(s.bucket, '-infinity') AND p.key_null = (s.key IS NULL) AND p.key_j = coalesce(s.key, '')
 ORDER BY s.level DESC, s.bucket, s.key NULLS LAST`;
  return { text, params };
}
