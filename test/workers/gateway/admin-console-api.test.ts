/**
 * The admin endpoints the console needs: `GET /requests/{id}` (the cost breakdown recomputed from
 * the row equals the charged total_cost to the last digit, for realtime, cached and batch rows, and
 * names the tariff; the stored response; visibility), the aggregate's `group_by=key`, TTFB
 * percentiles and cache_read_tokens, the playground key, the endpoint connection test and a
 * model's groups.
 *
 * Usage rows are written by the consumer's real write path (writeUsageBatch), so what is checked is
 * what the consumer charged.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { Money } from "../../../shared/pricing.ts";
import { responseObjectKey } from "../../../shared/response-message.ts";
import type { UsageMessageV1 } from "../../../shared/usage-message.ts";
import { writeResponseBatch } from "../../../workers/consumer/src/response-writer.ts";
import { writeUsageBatch } from "../../../workers/consumer/src/usage-writer.ts";
import { createKey, createModel, createTariff, EVERYONE_GROUP } from "../../support/db-fixtures.ts";
import { sampleMessage, sampleResponseMessage } from "../../support/samples.ts";
import { useTestPool } from "../test-pool.ts";
import { api, ok, principal, suffix, TTL_MS, type Principal } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep, upstreamRequests } from "./helpers.ts";

const pool = useTestPool();
const DAY_MS = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();

/** Writes usage messages the way the consumer does and returns their analytics row ids, in order. */
async function consume(messages: UsageMessageV1[]): Promise<string[]> {
  const client = await pool.connect();
  try {
    const out = await writeUsageBatch(client, messages);
    expect(out.recorded).toBe(messages.length);
  } finally {
    client.release();
  }
  const { rows } = await pool.query<{ id: string; event_id: string }>("SELECT id::text AS id, event_id FROM http_analytics WHERE event_id = ANY($1::uuid[])", [
    messages.map((m) => m.event_id),
  ]);
  return messages.map((m) => rows.find((r) => r.event_id === m.event_id)!.id);
}

interface Breakdown {
  input: string;
  cache_read: string;
  cache_write_5m: string;
  cache_write_1h: string;
  cache_write_24h: string;
  output: string;
  total: string;
  tariff: { id: string; purpose: string; completion_window: string | null; input_price_per_token: string; output_price_per_token: string } | null;
  cache_tariff: { id: string; read_multiplier: string } | null;
}
interface Detail {
  id: string;
  event_id: string;
  total_cost: string | null;
  cost_breakdown: Breakdown;
  stored_response: { id: string; request_body: string | null; response_body: string | null } | null;
}

const money = (s: string) => new Money(s);

describe("GET /requests/{id}: cost breakdown", () => {
  let alice: Principal;
  let bob: Principal;
  let viewer: Principal;
  let batchKey: string;
  let model: string;
  let tariffs: { realtimeNow: string; batchOld: string };
  let cacheTariff: string;
  let ids: { realtime: string; cached: string; batch: string; free: string };
  let events: { realtime: string };

  beforeAll(async () => {
    alice = await principal();
    bob = await principal();
    viewer = await principal(["request_viewer"]);
    batchKey = (await createKey(pool, alice.id, "batch")).id;
    const m = await createModel(pool, { url: mockBase() });
    model = m.alias;
    const changed = ago(2);
    await createTariff(pool, m.modelId, { purpose: "realtime", input: "0.000001", output: "0.000002", validFrom: ago(10), validUntil: changed });
    const realtimeNow = await createTariff(pool, m.modelId, { purpose: "realtime", input: "0.0000013", output: "0.0000071", validFrom: changed });
    const batchOld = await createTariff(pool, m.modelId, { purpose: "batch", input: "0.00000045", output: "0.0000011", validFrom: ago(10), validUntil: changed });
    await createTariff(pool, m.modelId, { purpose: "batch", input: "0.00000065", output: "0.0000035", validFrom: changed });
    tariffs = { realtimeNow, batchOld };
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO model_cache_tariffs (deployed_model_id, read_multiplier, write_multiplier_5m, write_multiplier_1h, write_multiplier_24h, valid_from)
       VALUES ($1, 0.1, 1.25, 2, NULL, $2) RETURNING id`,
      [m.modelId, ago(10)],
    );
    cacheTariff = rows[0]!.id;
    const free = await createModel(pool, { url: mockBase() });

    const realtime = sampleMessage({ model, api_key_id: alice.inferenceId, usage: { prompt_tokens: 1234, completion_tokens: 567, reasoning_tokens: 0, total_tokens: 1801, cached_tokens: 0 } });
    const cached = sampleMessage({
      model,
      api_key_id: alice.inferenceId,
      usage: { prompt_tokens: 5000, completion_tokens: 321, reasoning_tokens: 0, total_tokens: 5321, cached_tokens: 3000 },
      cache: { read_tokens: 3000, write_5m_tokens: 1000, write_1h_tokens: 500, write_24h_tokens: 200 },
    });
    const batch = sampleMessage({
      model,
      api_key_id: batchKey,
      usage: { prompt_tokens: 777, completion_tokens: 333, reasoning_tokens: 0, total_tokens: 1110, cached_tokens: 0 },
      // Created before the price change, finished after it: the old batch price applies.
      batch: { batch_id: crypto.randomUUID(), request_id: crypto.randomUUID(), custom_id: "c-1", completion_window: "24h", created_at: ago(3), request_source: "" },
    });
    const freeRow = sampleMessage({ model: free.alias, api_key_id: alice.inferenceId });
    const [r, c, b, f] = await consume([realtime, cached, batch, freeRow]);
    ids = { realtime: r!, cached: c!, batch: b!, free: f! };
    events = { realtime: realtime.event_id };
  });

  it("realtime: the parts sum to total_cost exactly, at the tariff valid at the request's time", async () => {
    const d = await ok<Detail>(await api("GET", `/requests/${ids.realtime}`, alice.admin));
    expect(d.cost_breakdown).toMatchObject({ input: "0.0016042", output: "0.0040257", cache_read: "0", cache_write_5m: "0", total: "0.0056299" });
    expect(money(d.cost_breakdown.total).eq(money(d.total_cost!))).toBe(true);
    expect(d.cost_breakdown.tariff).toMatchObject({ id: tariffs.realtimeNow, purpose: "realtime", input_price_per_token: "0.0000013", output_price_per_token: "0.0000071" });
    // The cache tariff was in force, but nothing was cached: every part but input and output is zero.
    expect(d.cost_breakdown.cache_tariff).toMatchObject({ id: cacheTariff, read_multiplier: "0.1" });
  });

  it("cached: each cache tier at its multiplier (a disabled tier at list price), summing to total_cost", async () => {
    const d = await ok<Detail>(await api("GET", `/requests/${ids.cached}`, alice.admin));
    // uncached = 5000 − 3000 − 1000 − 500 − 200 = 300 at 0.0000013
    expect(d.cost_breakdown).toMatchObject({
      input: "0.00039",
      cache_read: "0.00039", // 3000 × 0.0000013 × 0.1
      cache_write_5m: "0.001625", // 1000 × 0.0000013 × 1.25
      cache_write_1h: "0.0013", // 500 × 0.0000013 × 2
      cache_write_24h: "0.00026", // 200 × 0.0000013 (tier disabled: list price)
      output: "0.0022791", // 321 × 0.0000071
    });
    expect(d.cost_breakdown.total).toBe(new Money(d.total_cost!).toFixed());
    expect(d.cost_breakdown.total).toBe("0.0062441");
    expect(d.cost_breakdown.cache_tariff?.id).toBe(cacheTariff);
  });

  it("batch: priced at the batch tariff of the batch's creation, named, summing to total_cost", async () => {
    const d = await ok<Detail>(await api("GET", `/requests/${ids.batch}`, alice.admin));
    expect(d.cost_breakdown.tariff).toMatchObject({ id: tariffs.batchOld, purpose: "batch", input_price_per_token: "0.00000045" });
    expect(d.cost_breakdown).toMatchObject({ input: "0.00034965", output: "0.0003663", total: "0.00071595" });
    expect(money(d.cost_breakdown.total).eq(money(d.total_cost!))).toBe(true);
  });

  it("a free request: zero parts, no tariff", async () => {
    const d = await ok<Detail>(await api("GET", `/requests/${ids.free}`, alice.admin));
    expect(d.cost_breakdown).toMatchObject({ total: "0", input: "0", output: "0", tariff: null, cache_tariff: null });
  });

  it("the stored response, inline or from R2, joined by event id", async () => {
    expect((await ok<Detail>(await api("GET", `/requests/${ids.cached}`, alice.admin))).stored_response).toBeNull();
    const inline = sampleResponseMessage({ event_id: events.realtime, api_key_id: alice.inferenceId, request_body: '{"input":"hello"}', response_body: '{"output":"hi"}' });
    const client = await pool.connect();
    try {
      await writeResponseBatch(client, [inline]);
    } finally {
      client.release();
    }
    const d = await ok<Detail>(await api("GET", `/requests/${ids.realtime}`, alice.admin));
    expect(d.stored_response).toEqual({ id: inline.id, request_body: '{"input":"hello"}', response_body: '{"output":"hi"}' });

    const id = `resp_r2${crypto.randomUUID().replace(/-/g, "")}`;
    const objectKey = responseObjectKey(id);
    await env.RESPONSES_BUCKET.put(objectKey, JSON.stringify({ request_body: '{"input":"big"}', response_body: '{"output":"large"}' }));
    const batchEvent = (await pool.query<{ event_id: string }>("SELECT event_id FROM http_analytics WHERE id = $1", [ids.batch])).rows[0]!.event_id;
    const r2 = sampleResponseMessage({ id, event_id: batchEvent, api_key_id: batchKey, request_body: null, response_body: null, body_object_key: objectKey });
    const c2 = await pool.connect();
    try {
      await writeResponseBatch(c2, [r2]);
    } finally {
      c2.release();
    }
    expect((await ok<Detail>(await api("GET", `/requests/${ids.batch}`, alice.admin))).stored_response).toEqual({ id, request_body: '{"input":"big"}', response_body: '{"output":"large"}' });
  });

  it("visibility: the owner, viewer roles and managers see the row; another user, an unknown or malformed id get 404", async () => {
    await ok(await api("GET", `/requests/${ids.realtime}`, viewer.admin));
    await ok(await api("GET", `/requests/${ids.realtime}`));
    await expectError(await api("GET", `/requests/${ids.realtime}`, bob.admin), 404, "not_found");
    await expectError(await api("GET", "/requests/999999999999", alice.admin), 404, "not_found");
    await expectError(await api("GET", "/requests/12abc", alice.admin), 404, "not_found");
    // The aggregate route is not taken for an id.
    await ok(await api("GET", "/requests/aggregate", alice.admin));
  });
});

interface Metrics {
  requests: number;
  completion_tokens: number;
  total_cost: string;
  p95_duration_ms: number | null;
  cached_tokens: number;
  cache_read_tokens: number;
  prompt_tokens: number;
  p50_ttfb_ms: number | null;
  p95_ttfb_ms: number | null;
  p50_duration_ms: number | null;
}
interface Aggregate {
  group_by: string;
  totals: Metrics;
  groups: (Metrics & { key: string | null })[];
  buckets: (Metrics & { key: string | null; start: string })[];
}

describe("GET /requests/aggregate: the console's additions", () => {
  it("group_by=key, p50/p95 time to first byte, cache_read_tokens", async () => {
    const owner = await principal();
    const second = (await createKey(pool, owner.id, "realtime")).id;
    const model = `agg-${suffix()}`;
    const day = "2001-05-06";
    const msg = (time: string, key: string, ttfb: number | null, read: number) =>
      sampleMessage({
        timestamp: `${day}T${time}:00.000Z`,
        model,
        api_key_id: key,
        ttfb_ms: ttfb,
        duration_ms: 500,
        usage: { prompt_tokens: 100, completion_tokens: 5, reasoning_tokens: 0, total_tokens: 105, cached_tokens: read },
        cache: { read_tokens: read, write_5m_tokens: 0, write_1h_tokens: 0, write_24h_tokens: 0 },
      });
    await consume([msg("01:00", owner.inferenceId, 10, 50), msg("02:00", owner.inferenceId, 20, 0), msg("03:00", second, 30, 25), msg("04:00", second, 40, 0), msg("05:00", second, null, 0)]);
    const agg = await ok<Aggregate>(
      await api("GET", `/requests/aggregate?model=${model}&group_by=key&created_after=${day}T00:00:00Z&created_before=2001-05-07T00:00:00Z`, owner.admin),
    );
    expect(agg.group_by).toBe("key");
    // percentile_cont over 10, 20, 30, 40 (the row without a TTFB is skipped): 25 and 38.5.
    expect(agg.totals).toMatchObject({ requests: 5, prompt_tokens: 500, cached_tokens: 75, cache_read_tokens: 75, p50_ttfb_ms: 25, p95_ttfb_ms: 38.5, p50_duration_ms: 500 });
    const byKey = Object.fromEntries(agg.groups.map((g) => [g.key, g]));
    expect(byKey[owner.inferenceId]).toMatchObject({ requests: 2, cache_read_tokens: 50, p50_ttfb_ms: 15 });
    expect(byKey[second]).toMatchObject({ requests: 3, cache_read_tokens: 25, p50_ttfb_ms: 35 });
    expect(agg.buckets.map((b) => b.key).sort()).toEqual([owner.inferenceId, second].sort());
  });

  it("an unknown group_by is a 400 naming it", async () => {
    const err = await expectError(await api("GET", "/requests/aggregate?group_by=tenant"), 400, "invalid_request_error");
    expect(err.param).toBe("group_by");
  });
});

describe("POST /playground/key", () => {
  it("one key per caller, rotated on each call: the new secret works at the gateway, the previous one is refused", async () => {
    const user = await principal();
    const model = await createModel(pool, { url: mockBase() });
    const chat = (key: string) => post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, key);
    const first = await ok<{ key: string; key_id: string; expires_at: string | null }>(await api("POST", "/playground/key", user.admin));
    expect(first.key).toMatch(/^tg-/);
    expect((await chat(first.key)).status).toBe(200);
    const second = await ok<{ key: string; key_id: string }>(await api("POST", "/playground/key", user.admin));
    expect(second.key_id).toBe(first.key_id);
    expect(second.key).not.toBe(first.key);
    expect((await chat(second.key)).status).toBe(200);
    await sleep(TTL_MS + 50);
    await expectError(await chat(first.key), 401, "invalid_api_key");
    expect((await chat(second.key)).status).toBe(200);

    // Concurrent calls still leave one key, listed with the playground purpose and never its secret.
    await Promise.all([1, 2, 3].map(() => api("POST", "/playground/key", user.admin)));
    const keys = await ok<{ data: { id: string; name: string; purpose: string }[] }>(await api("GET", `/users/${user.id}/api-keys`, user.admin));
    expect(keys.data.filter((k) => k.purpose === "playground")).toEqual([expect.objectContaining({ id: first.key_id, name: "Console playground" })]);
  });

  it("another user's call makes their own key; the ADMIN_TOKEN, being nobody, gets a 400", async () => {
    const a = await principal();
    const b = await principal();
    const ka = await ok<{ key_id: string }>(await api("POST", "/playground/key", a.admin));
    const kb = await ok<{ key_id: string }>(await api("POST", "/playground/key", b.admin));
    expect(ka.key_id).not.toBe(kb.key_id);
    await expectError(await api("POST", "/playground/key"), 400, "invalid_request_error");
  });
});

describe("POST /endpoints/{id}/test", () => {
  it("reaches the mock upstream with the stored credentials and lists its models, never echoing the secret", async () => {
    const secret = `sk-upstream-${suffix()}`;
    const ep = await ok<{ id: string }>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: mockBase(), api_key: secret, auth_header_name: "x-api-key", auth_header_prefix: "Key " }), 201);
    const res = await api("POST", `/endpoints/${ep.id}/test`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(secret);
    const result = JSON.parse(text) as { ok: boolean; status: number | null; latency_ms: number; models: string[]; error: string | null };
    expect(result).toMatchObject({ ok: true, status: 200, models: ["mock-model"], error: null });
    expect(result.latency_ms).toBeGreaterThanOrEqual(0);
    const seen = (await upstreamRequests()).reverse().find((r) => r.path === "/v1/models" && r.headers["x-api-key"] !== undefined);
    expect(seen?.headers["x-api-key"]).toBe(`Key ${secret}`);
  });

  it("a dead port is ok:false with an error, not a 5xx; an upstream error status is reported", async () => {
    const dead = await ok<{ id: string }>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: "http://127.0.0.1:9/v1" }), 201);
    const result = await ok<{ ok: boolean; status: number | null; error: string | null; models: string[] }>(await api("POST", `/endpoints/${dead.id}/test`));
    expect(result).toMatchObject({ ok: false, status: null, models: [] });
    expect(result.error).toMatch(/could not be reached|No answer/);

    const missing = await ok<{ id: string }>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: `${env.MOCK_UPSTREAM_URL}/nowhere` }), 201);
    const r404 = await ok<{ ok: boolean; status: number | null; error: string | null }>(await api("POST", `/endpoints/${missing.id}/test`));
    expect(r404.ok).toBe(false);
    expect(r404.status).not.toBe(200);
    expect(r404.error).not.toBeNull();
  });

  it("managers only; an unknown endpoint is 404", async () => {
    const user = await principal();
    const ep = await ok<{ id: string }>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: mockBase() }), 201);
    await expectError(await api("POST", `/endpoints/${ep.id}/test`, user.admin), 403, "permission_denied");
    await expectError(await api("POST", `/endpoints/${crypto.randomUUID()}/test`), 404, "not_found");
  });
});

describe("GET /models/{id}/groups", () => {
  it("lists the groups that grant the model (Everyone marked builtin); managers only; 404 for an unknown model", async () => {
    const model = await createModel(pool, { url: mockBase() });
    const group = await ok<{ id: string; name: string }>(await api("POST", "/groups", env.ADMIN_TOKEN, { name: `g-${suffix()}` }), 201);
    await ok(await api("POST", `/groups/${group.id}/models`, env.ADMIN_TOKEN, { model_id: model.modelId }), 201);
    const page = await ok<{ data: { id: string; name: string; builtin: boolean }[]; total_count: number }>(await api("GET", `/models/${model.modelId}/groups`));
    expect(page.total_count).toBe(2);
    expect(page.data.map((g) => [g.id, g.builtin]).sort()).toEqual([[EVERYONE_GROUP, true], [group.id, false]].sort());
    await ok(await api("DELETE", `/groups/${group.id}/models/${model.modelId}`), 204);
    expect((await ok<{ data: { id: string }[] }>(await api("GET", `/models/${model.modelId}/groups`))).data.map((g) => g.id)).toEqual([EVERYONE_GROUP]);

    const user = await principal();
    await expectError(await api("GET", `/models/${model.modelId}/groups`, user.admin), 403, "permission_denied");
    await expectError(await api("GET", `/models/${crypto.randomUUID()}/groups`), 404, "not_found");
  });
});

describe("the analytics rollup (windows of 48 h and more)", () => {
  it("equals the raw aggregation after redelivery and overlapping concurrent deliveries; percentiles within the histogram's bound", async () => {
    const owner = await principal();
    const m = await createModel(pool, { url: mockBase() });
    await createTariff(pool, m.modelId, { purpose: "realtime", input: "0.0000013", output: "0.0000071", validFrom: "2000-01-01T00:00:00Z" });
    // Every 37 minutes for three days, so whole days, whole hours and ragged ends all hold rows.
    const start = Date.parse("2001-07-01T09:00:00Z");
    const all = Array.from({ length: 120 }, (_, i) =>
      sampleMessage({
        timestamp: new Date(start + i * 37 * 60_000 + (i % 7) * 1000).toISOString(),
        model: m.alias,
        api_key_id: owner.inferenceId,
        duration_ms: 40 + ((i * 97) % 3000),
        ttfb_ms: i % 10 === 0 ? null : 5 + ((i * 53) % 700),
        usage: { prompt_tokens: 100 + i, completion_tokens: 10 + (i % 13), reasoning_tokens: 0, total_tokens: 110 + i + (i % 13), cached_tokens: i % 3 === 0 ? 50 : 0 },
        cache: { read_tokens: i % 3 === 0 ? 50 : 0, write_5m_tokens: 0, write_1h_tokens: 0, write_24h_tokens: 0 },
      }),
    );
    const write = async (messages: UsageMessageV1[]) => {
      const client = await pool.connect();
      try {
        return await writeUsageBatch(client, messages);
      } finally {
        client.release();
      }
    };
    expect((await write(all.slice(0, 60))).recorded).toBe(60);
    expect((await write(all.slice(0, 60))).recorded).toBe(0); // redelivery
    // Two writers with overlapping batches at once: each event recorded (and rolled up) once.
    const [x, y] = await Promise.all([write(all.slice(40, 100)), write(all.slice(50, 120))]);
    expect(x.recorded + y.recorded).toBe(60);

    const after = "2001-07-01T10:30:00Z";
    const before = "2001-07-04T08:15:00Z";
    const window = `created_after=${after}&created_before=${before}`;
    const agg = await ok<Aggregate>(
      await api("GET", `/requests/aggregate?model=${m.alias}&${window}`, env.ADMIN_TOKEN),
    );
    const { rows: raw } = await pool.query<{ requests: number; prompt: number; completion: number; cached: number; cost: string; durations: number[]; ttfbs: number[] }>(
      `SELECT count(*)::int AS requests, sum(prompt_tokens)::int AS prompt, sum(completion_tokens)::int AS completion, sum(cache_read_tokens)::int AS cached,
              sum(total_cost)::text AS cost, array_agg(duration_ms::int ORDER BY duration_ms) AS durations,
              array_agg(duration_to_first_byte_ms::int ORDER BY duration_to_first_byte_ms) FILTER (WHERE duration_to_first_byte_ms IS NOT NULL) AS ttfbs
         FROM http_analytics WHERE model = $1 AND "timestamp" >= $2 AND "timestamp" < $3`,
      [m.alias, after, before],
    );
    const r = raw[0]!;
    expect(r.requests).toBeGreaterThan(100);
    expect(agg.totals).toMatchObject({ requests: r.requests, prompt_tokens: r.prompt, completion_tokens: r.completion, cache_read_tokens: r.cached });
    expect(new Money(agg.totals.total_cost).eq(new Money(r.cost))).toBe(true);
    // Nearest rank, then the bucket's middle: within 2^(1/16) of the exact value.
    const rank = (sorted: number[], p: number) => sorted[Math.ceil(p * sorted.length) - 1]!;
    const near = (got: number | null, exact: number) => expect(Math.abs(got! - exact) / exact).toBeLessThanOrEqual(0.0443);
    near(agg.totals.p50_duration_ms, rank(r.durations, 0.5));
    near(agg.totals.p95_duration_ms, rank(r.durations, 0.95));
    near(agg.totals.p50_ttfb_ms, rank(r.ttfbs, 0.5));
    near(agg.totals.p95_ttfb_ms, rank(r.ttfbs, 0.95));

    // Daily buckets equal the raw rows of each (partial) day.
    const { rows: days } = await pool.query<{ day: string; requests: number }>(
      `SELECT to_json(date_trunc('day', "timestamp", 'UTC'))#>>'{}' AS day, count(*)::int AS requests FROM http_analytics
        WHERE model = $1 AND "timestamp" >= $2 AND "timestamp" < $3 GROUP BY 1 ORDER BY 1`,
      [m.alias, after, before],
    );
    expect(agg.buckets.map((b) => [Date.parse(b.start), b.requests])).toEqual(days.map((d) => [Date.parse(d.day), d.requests]));
    // Hourly buckets too (the rollup's hourly rows plus the ragged ends).
    const hourly = await ok<Aggregate>(await api("GET", `/requests/aggregate?model=${m.alias}&bucket=hour&${window}`, env.ADMIN_TOKEN));
    expect(hourly.buckets.reduce((n, b) => n + b.requests, 0)).toBe(r.requests);

    // The rollup's own rows: hours and days each sum to every row written (none twice).
    const { rows: rollup } = await pool.query<{ period: string; requests: number; cost: string }>(
      "SELECT period, sum(requests)::int AS requests, sum(total_cost)::text AS cost FROM http_analytics_rollup WHERE model = $1 GROUP BY period ORDER BY period",
      [m.alias],
    );
    const { rows: everything } = await pool.query<{ requests: number; cost: string }>("SELECT count(*)::int AS requests, sum(total_cost)::text AS cost FROM http_analytics WHERE model = $1", [m.alias]);
    expect(rollup.map((x) => x.period)).toEqual(["day", "hour"]);
    for (const x of rollup) {
      expect(x.requests).toBe(120);
      expect(new Money(x.cost).eq(new Money(everything[0]!.cost))).toBe(true);
    }
    expect(everything[0]!.requests).toBe(120);
  });
});
