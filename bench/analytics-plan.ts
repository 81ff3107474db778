/**
 * `npm run bench:analytics` — the query plans and timings of the admin API's analytics reads
 * (`shared/sql/analytics-query.ts`, the very text `/admin/api/v1/requests[/aggregate]` runs) over
 * a realistically sized `http_analytics`.
 *
 * Creates a fresh, migrated database on DATABASE_URL's server, fills it with BENCH_ROWS (default
 * 1,000,000) rows in one INSERT … SELECT generate_series (1,000 users with 2 keys each, 20 models,
 * 30 days of traffic), VACUUM ANALYZEs it, then prints EXPLAIN (ANALYZE, BUFFERS) and the median
 * of BENCH_RUNS (default 5) warm runs for:
 *
 *   1. the list page for one user over 7 days (and its count);
 *   2. the list page for one API key over 7 days (the index migration 1795429526902 adds);
 *   3. the aggregate for one model over one day, hourly buckets, and for one user over 30 days,
 *      daily buckets, as a standard user's dashboard asks; for contrast, all models over one day;
 *   4. the console's overview — all traffic, 30 days, daily buckets, per model, percentiles — from
 *      the raw rows and from the hourly/daily rollup (built from the rows first, timed), and a
 *      closing line comparing it with the 300 ms target.
 *
 * Drops the database at the end, also on failure. Needs a real server: embedded PGlite would
 * measure PGlite, not Postgres.
 */
import pg from "pg";
import { aggregateRequestsSql, countRequestsSql, listRequestsSql, type Sql } from "../shared/sql/analytics-query.ts";
import { aggregateFromRollupSql, rebuildRollupSql } from "../shared/sql/analytics-rollup.ts";
import { createTestDatabase } from "../test/support/test-database.ts";

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const USERS = 1000;
const MODELS = 20;
const DAYS = 30;

// Deterministic ids, so the queries below can name a user, a key and a model that exist.
const FILL_SQL = `
INSERT INTO http_analytics (event_id, "timestamp", method, uri, model, served_model, status_code, duration_ms,
  duration_to_first_byte_ms, prompt_tokens, completion_tokens, total_tokens, cache_read_tokens, response_type,
  user_id, api_key_id, access_source, input_price_per_token, output_price_per_token, total_cost, uncached_cost)
SELECT gen_random_uuid(),
       $2::timestamptz - (i::float8 / $1 * interval '${DAYS} days') - random() * interval '1 minute',
       'POST', '/ai/v1/chat/completions',
       'model-' || (i % ${MODELS}), 'served-' || (i % ${MODELS}),
       CASE WHEN i % 50 = 0 THEN 429 WHEN i % 97 = 0 THEN 500 ELSE 200 END,
       d, d / 4, p, c, p + c, (p * random() * 0.5)::bigint, 'chat.completion',
       md5('user-' || (i % ${USERS}))::uuid,
       md5('key-' || (i % ${USERS}) || '-' || (i % 2))::uuid,
       'api_key', 0.000001, 0.000002,
       (p * 0.000001 + c * 0.000002)::numeric(20, 9), (p * 0.000001 + c * 0.000002)::numeric(20, 9)
  FROM generate_series(1, $1) AS i,
       LATERAL (SELECT (50 + random() * 2000)::bigint AS d, (10 + random() * 4000)::bigint AS p, (random() * 800)::bigint AS c) r`;

const idOf = async (client: pg.Client, sql: string): Promise<string> => (await client.query<{ id: string }>(sql)).rows[0]!.id;

/** The 30-day all-traffic overview must answer within this (issue #17). */
const OVERVIEW_TARGET_MS = 300;

async function explain(client: pg.Client, title: string, q: Sql): Promise<number> {
  const { rows } = await client.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.text}`, q.params);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await client.query(q.text, q.params);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`\n=== ${title}`);
  console.log(rows.map((r) => r["QUERY PLAN"]).join("\n"));
  console.log(`--- client round trip over ${RUNS} warm runs: median ${times[Math.floor(RUNS / 2)]!.toFixed(2)} ms, min ${times[0]!.toFixed(2)} ms, max ${times[RUNS - 1]!.toFixed(2)} ms`);
  return times[Math.floor(RUNS / 2)]!;
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) {
    console.error("DATABASE_URL is not set: point it at a Postgres server, e.g.\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:analytics");
    process.exit(2);
  }
  const db = await createTestDatabase("bench_analytics");
  const client = new pg.Client({ connectionString: db.url });
  try {
    await client.connect();
    const { rows: version } = await client.query<{ server_version: string }>("SHOW server_version");
    console.log(`Postgres ${version[0]!.server_version}; filling http_analytics with ${ROWS.toLocaleString("en")} rows …`);
    const now = new Date();
    let t0 = performance.now();
    await client.query(FILL_SQL, [ROWS, now.toISOString()]);
    console.log(`insert: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    t0 = performance.now();
    await client.query("VACUUM ANALYZE http_analytics");
    console.log(`vacuum analyze: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const { rows: size } = await client.query<{ table: string; indexes: string }>(
      "SELECT pg_size_pretty(pg_table_size('http_analytics')) AS table, pg_size_pretty(pg_indexes_size('http_analytics')) AS indexes",
    );
    console.log(`table ${size[0]!.table}, indexes ${size[0]!.indexes}`);
    const { rows: indexes } = await client.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'http_analytics' ORDER BY indexname");
    for (const { indexdef } of indexes) console.log(`  ${indexdef}`);

    const userId = await idOf(client, "SELECT md5('user-42')::uuid::text AS id");
    const apiKeyId = await idOf(client, "SELECT md5('key-42-0')::uuid::text AS id");
    const weekAgo = new Date(now.getTime() - 7 * 86_400_000).toISOString();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 3)).toISOString();
    const dayEnd = new Date(Date.parse(dayStart) + 86_400_000).toISOString();

    const userWeek = { userId, createdAfter: weekAgo, createdBefore: now.toISOString() };
    await explain(client, `1. list: user_id = user-42, last 7 days, first page of 100`, listRequestsSql(userWeek, 100, 0));
    await explain(client, `1b. count for that list (total_count)`, countRequestsSql(userWeek));
    await explain(client, `1c. list: same user, page 10 (skip 900)`, listRequestsSql(userWeek, 100, 900));
    await explain(client, `2. list: api_key_id = key-42-0, last 7 days, first page of 100`, listRequestsSql({ apiKeyId, createdAfter: weekAgo, createdBefore: now.toISOString() }, 100, 0));
    await explain(client, `3. aggregate: model = model-7, one day (${dayStart.slice(0, 10)}), hourly buckets, group_by model`, aggregateRequestsSql({ model: "model-7", createdAfter: dayStart, createdBefore: dayEnd }, "hour", "model"));
    await explain(client, `3b. aggregate: user_id = user-42, 30 days, daily buckets, group_by model`, aggregateRequestsSql({ userId, createdAfter: new Date(now.getTime() - 30 * 86_400_000).toISOString(), createdBefore: now.toISOString() }, "day", "model"));
    await explain(client, `3c. aggregate: all models, one day, hourly buckets, group_by model`, aggregateRequestsSql({ createdAfter: dayStart, createdBefore: dayEnd }, "hour", "model"));

    // The console's overview: all traffic, the last 30 days (an unaligned window, as "now − 30 d"
    // is), daily buckets, per model, with p50/p95 duration and TTFB. The API reads windows of 48 h
    // and more from the rollup; the raw aggregation is shown for contrast.
    const monthAgo = new Date(now.getTime() - 30 * 86_400_000).toISOString();
    t0 = performance.now();
    const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 40)).toISOString();
    const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
    await client.query("BEGIN");
    for (const q of rebuildRollupSql(from, to)) await client.query(q.text, q.params);
    await client.query("COMMIT");
    await client.query("VACUUM ANALYZE http_analytics_rollup");
    const { rows: rollup } = await client.query<{ n: string; size: string }>("SELECT count(*)::text AS n, pg_size_pretty(pg_total_relation_size('http_analytics_rollup')) AS size FROM http_analytics_rollup");
    console.log(`\nrollup built from the raw rows in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${rollup[0]!.n} rows, ${rollup[0]!.size}`);
    const raw = await explain(client, `4a. OVERVIEW from raw rows: all traffic, 30 days, daily buckets, group_by model`, aggregateRequestsSql({ createdAfter: monthAgo, createdBefore: now.toISOString() }, "day", "model"));
    const fromRollup = await explain(client, `4b. OVERVIEW from the rollup (what the API runs): all traffic, 30 days, daily buckets, group_by model`, aggregateFromRollupSql(monthAgo, now.toISOString(), "day"));
    await explain(client, `4c. from the rollup: model = model-7, 30 days, daily buckets`, aggregateFromRollupSql(monthAgo, now.toISOString(), "day", "model-7"));
    await explain(client, `4d. from the rollup: all traffic, 7 days, hourly buckets`, aggregateFromRollupSql(weekAgo, now.toISOString(), "hour"));
    console.log(`\n30-day overview of all traffic on ${ROWS.toLocaleString("en")} rows: ${fromRollup.toFixed(1)} ms from the rollup (raw aggregation: ${raw.toFixed(1)} ms); target ≤ ${OVERVIEW_TARGET_MS} ms: ${fromRollup <= OVERVIEW_TARGET_MS ? "MET" : "NOT MET"}`);
  } finally {
    await client.end().catch(() => undefined);
    await db.drop();
    console.log("\ndatabase dropped");
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
