/**
 * Admin API, usage analytics: `GET /requests` (filters, newest first, pagination) and
 * `GET /requests/aggregate` (totals, per-key groups and time buckets with exact sums, decimal
 * costs and percentile_cont durations); validation; and who sees which rows (viewer roles: all;
 * a standard user: their own, another user's id answers 404).
 *
 * Each test writes its rows on its own day long past, so other test files' traffic never lands in
 * the windows queried here.
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { api, badRequest, insertAnalytics, ok, principal, suffix, type Page, type Principal } from "./admin-helpers.ts";
import { expectError } from "./helpers.ts";
import { useTestPool } from "../test-pool.ts";

const pool = useTestPool();
interface Row {
  id: string;
  timestamp: string;
  model: string | null;
  status_code: number;
  duration_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  total_cost: string | null;
  user_id: string | null;
  api_key_id: string | null;
  api_key_name: string | null;
}
interface Metrics {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  total_cost: string;
  p50_duration_ms: number | null;
  p95_duration_ms: number | null;
}
interface Aggregate {
  bucket: string;
  group_by: string;
  created_after: string;
  created_before: string;
  totals: Metrics;
  groups: (Metrics & { key: string | null })[];
  buckets: (Metrics & { start: string; key: string | null })[];
}

const at = (day: string, time: string) => `${day}T${time}:00.000Z`;
const window = (day: string) => `created_after=${at(day, "00:00")}&created_before=${encodeURIComponent(new Date(Date.parse(at(day, "00:00")) + 86_400_000).toISOString())}`;

describe("analytics: happy paths", () => {
  const DAY = "2001-03-04";
  let alice: Principal;
  let bob: Principal;
  let mA: string;
  let mB: string;
  let ids: Record<"a1" | "a2" | "a3" | "b1", string>;

  beforeAll(async () => {
    alice = await principal();
    bob = await principal();
    mA = `mA-${suffix()}`;
    mB = `mB-${suffix()}`;
    const [a1, a2, a3, b1] = await insertAnalytics(pool, [
      { timestamp: at(DAY, "10:05"), model: mA, user_id: alice.id, api_key_id: alice.inferenceId, duration_ms: 100, prompt_tokens: 10, completion_tokens: 5, cache_read_tokens: 2, total_cost: "0.001" },
      { timestamp: at(DAY, "10:40"), model: mA, user_id: alice.id, api_key_id: alice.inferenceId, duration_ms: 200, prompt_tokens: 20, completion_tokens: 10, total_cost: "0.002" },
      { timestamp: at(DAY, "11:10"), model: mB, user_id: alice.id, api_key_id: alice.inferenceId, status_code: 500, duration_ms: 300, total_cost: null },
      { timestamp: at(DAY, "10:20"), model: mA, user_id: bob.id, api_key_id: bob.inferenceId, duration_ms: 400, prompt_tokens: 40, completion_tokens: 20, cache_read_tokens: 8, total_cost: "0.004" },
    ]);
    ids = { a1: a1!, a2: a2!, a3: a3!, b1: b1! };
  });

  const list = async (query: string) => ok<Page<Row>>(await api("GET", `/requests?${query}`));
  const idsOf = (page: Page<Row>) => page.data.map((r) => r.id);

  it("lists a window newest first, with every field a client needs", async () => {
    const page = await list(window(DAY));
    expect(idsOf(page)).toEqual([ids.a3, ids.a2, ids.b1, ids.a1]);
    expect(page).toMatchObject({ total_count: 4, skip: 0, limit: 100 });
    expect(page.data[3]).toMatchObject({
      timestamp: at(DAY, "10:05"),
      model: mA,
      status_code: 200,
      duration_ms: 100,
      prompt_tokens: 10,
      completion_tokens: 5,
      cache_read_tokens: 2,
      total_cost: "0.001",
      user_id: alice.id,
      api_key_id: alice.inferenceId,
      // The key's name comes with the row, so a list of everyone's requests can name every key.
      api_key_name: "infer",
    });
    expect(page.data[0]!.total_cost).toBeNull();
  });

  it("filters by user, key, model, status and time (after inclusive, before exclusive); paginates", async () => {
    expect(idsOf(await list(`user_id=${alice.id}&${window(DAY)}`))).toEqual([ids.a3, ids.a2, ids.a1]);
    const paged = await list(`user_id=${alice.id}&skip=1&limit=1`);
    expect(idsOf(paged)).toEqual([ids.a2]);
    expect(paged).toMatchObject({ total_count: 3, skip: 1, limit: 1 });
    expect(idsOf(await list(`api_key_id=${bob.inferenceId}`))).toEqual([ids.b1]);
    expect(idsOf(await list(`model=${mA}`))).toEqual([ids.a2, ids.b1, ids.a1]);
    expect(idsOf(await list(`user_id=${alice.id}&status_code=500`))).toEqual([ids.a3]);
    expect(idsOf(await list(`model=${mA}&created_after=${at(DAY, "10:40")}&created_before=${at(DAY, "11:10")}`))).toEqual([ids.a2]);
    // Offsets are honoured: 11:21+01:00 is 10:21Z.
    expect(idsOf(await list(`model=${mA}&created_before=${encodeURIComponent(`${DAY}T11:21:00+01:00`)}`))).toEqual([ids.b1, ids.a1]);
    expect(await list(`user_id=${crypto.randomUUID()}`)).toMatchObject({ data: [], total_count: 0 });
  });

  it("aggregates by model and hour: totals, groups and buckets with exact sums and percentiles", async () => {
    const agg = await ok<Aggregate>(await api("GET", `/requests/aggregate?bucket=hour&group_by=model&${window(DAY)}`));
    expect(agg).toMatchObject({ bucket: "hour", group_by: "model", created_after: at(DAY, "00:00") });
    // percentile_cont over 100, 200, 300, 400 ms: the median interpolates, p95 lies 85% of the way from 300 to 400.
    expect(agg.totals).toEqual({ requests: 4, prompt_tokens: 70, completion_tokens: 35, cached_tokens: 10, cache_read_tokens: 10, total_cost: "0.007", p50_duration_ms: 250, p95_duration_ms: 385, p50_ttfb_ms: null, p95_ttfb_ms: null });
    expect(agg.groups).toEqual([
      { key: mA, requests: 3, prompt_tokens: 70, completion_tokens: 35, cached_tokens: 10, cache_read_tokens: 10, total_cost: "0.007", p50_duration_ms: 200, p95_duration_ms: 380, p50_ttfb_ms: null, p95_ttfb_ms: null },
      { key: mB, requests: 1, prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, cache_read_tokens: 0, total_cost: "0", p50_duration_ms: 300, p95_duration_ms: 300, p50_ttfb_ms: null, p95_ttfb_ms: null },
    ]);
    expect(agg.buckets.map((b) => [b.start, b.key, b.requests, b.total_cost])).toEqual([
      [at(DAY, "10:00"), mA, 3, "0.007"],
      [at(DAY, "11:00"), mB, 1, "0"],
    ]);
  });

  it("aggregates by user and day, and under filters", async () => {
    const agg = await ok<Aggregate>(await api("GET", `/requests/aggregate?group_by=user&${window(DAY)}`));
    expect(agg.bucket).toBe("day");
    expect(agg.groups.map((g) => [g.key, g.requests, g.total_cost]).sort()).toEqual([
      [alice.id, 3, "0.003"],
      [bob.id, 1, "0.004"],
    ].sort());
    expect(agg.buckets.map((b) => [b.start, b.key, b.requests]).sort()).toEqual([
      [at(DAY, "00:00"), alice.id, 3],
      [at(DAY, "00:00"), bob.id, 1],
    ].sort());

    const oneModel = await ok<Aggregate>(await api("GET", `/requests/aggregate?model=${mA}&status_code=200&${window(DAY)}`));
    expect(oneModel.totals).toMatchObject({ requests: 3, prompt_tokens: 70 });
    // No rows: zero totals, no groups, no buckets.
    const empty = await ok<Aggregate>(await api("GET", `/requests/aggregate?user_id=${crypto.randomUUID()}&${window(DAY)}`));
    expect(empty).toMatchObject({ totals: { requests: 0, total_cost: "0", p50_duration_ms: null, p95_duration_ms: null }, groups: [], buckets: [] });
  });

  it("without a window the aggregate covers the last day (hour buckets) or 30 days (day buckets)", async () => {
    const hourly = await ok<Aggregate>(await api("GET", "/requests/aggregate?bucket=hour"));
    expect(Date.parse(hourly.created_before) - Date.parse(hourly.created_after)).toBe(86_400_000);
    const daily = await ok<Aggregate>(await api("GET", "/requests/aggregate"));
    expect(Date.parse(daily.created_before) - Date.parse(daily.created_after)).toBe(30 * 86_400_000);
  });
});

describe("analytics: errors", () => {
  it("every query field is validated and named", async () => {
    await badRequest(await api("GET", "/requests?user_id=alice"), "user_id");
    await badRequest(await api("GET", "/requests?api_key_id=1"), "api_key_id");
    await badRequest(await api("GET", "/requests?status_code=ok"), "status_code");
    await badRequest(await api("GET", "/requests?status_code=999"), "status_code");
    await badRequest(await api("GET", "/requests?created_after=yesterday"), "created_after");
    await badRequest(await api("GET", "/requests?created_before=2026-13-01T00:00:00Z"), "created_before");
    await badRequest(await api("GET", "/requests?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z"), "created_before");
    await badRequest(await api("GET", "/requests?created_after=2026-01-01T00:00:00Z&created_before=2026-01-01T00:00:00Z"), "created_before");
    await badRequest(await api("GET", "/requests?limit=1001"), "limit");
    await badRequest(await api("GET", "/requests?skip=-1"), "skip");
    await badRequest(await api("GET", "/requests?order=asc"), "order");
    await badRequest(await api("GET", "/requests/aggregate?bucket=week"), "bucket");
    await badRequest(await api("GET", "/requests/aggregate?group_by=api_key"), "group_by");
    await badRequest(await api("GET", "/requests/aggregate?limit=5"), "limit");
    await badRequest(await api("GET", "/requests/aggregate?user_id=x"), "user_id");
    // An hourly aggregate over a year would be 8,760 buckets per key: bounded.
    await badRequest(await api("GET", "/requests/aggregate?bucket=hour&created_after=2025-01-01T00:00:00Z&created_before=2026-01-01T00:00:00Z"), "created_after");
    await badRequest(await api("GET", "/requests/aggregate?created_after=2020-01-01T00:00:00Z&created_before=2026-01-01T00:00:00Z"), "created_after");
  });
});

describe("analytics: who sees which rows", () => {
  const DAY = "2002-05-06";
  let alice: Principal;
  let bob: Principal;
  let aliceRow: string;
  let bobRow: string;

  beforeAll(async () => {
    alice = await principal();
    bob = await principal();
    [aliceRow, bobRow] = (await insertAnalytics(pool, [
      { timestamp: at(DAY, "08:00"), user_id: alice.id, api_key_id: alice.inferenceId, total_cost: "1.5" },
      { timestamp: at(DAY, "09:00"), user_id: bob.id, api_key_id: bob.inferenceId, total_cost: "2.25" },
    ])) as [string, string];
  });

  it("platform_manager, billing_manager and request_viewer see every user's rows", async () => {
    // One after another: the embedded Postgres serves every connection in one session.
    const tokens = [env.ADMIN_TOKEN];
    for (const role of ["platform_manager", "billing_manager", "request_viewer"]) tokens.push((await principal([role])).admin);
    for (const token of tokens) {
      expect((await ok<Page<Row>>(await api("GET", `/requests?${window(DAY)}`, token))).data.map((r) => r.id)).toEqual([bobRow, aliceRow]);
      expect((await ok<Page<Row>>(await api("GET", `/requests?user_id=${bob.id}`, token))).data.map((r) => r.id)).toEqual([bobRow]);
      expect((await ok<Aggregate>(await api("GET", `/requests/aggregate?${window(DAY)}`, token))).totals).toMatchObject({ requests: 2, total_cost: "3.75" });
    }
  });

  it("a standard user sees only their own rows, whatever they filter on", async () => {
    const page = await ok<Page<Row>>(await api("GET", `/requests?${window(DAY)}`, alice.admin));
    expect(page).toMatchObject({ total_count: 1 });
    expect(page.data.map((r) => r.id)).toEqual([aliceRow]);
    expect((await ok<Page<Row>>(await api("GET", `/requests?user_id=${alice.id}`, alice.admin))).data.map((r) => r.id)).toEqual([aliceRow]);
    // Bob's key id as a filter still only searches Alice's rows.
    expect(await ok<Page<Row>>(await api("GET", `/requests?api_key_id=${bob.inferenceId}`, alice.admin))).toMatchObject({ data: [], total_count: 0 });

    const agg = await ok<Aggregate>(await api("GET", `/requests/aggregate?group_by=user&${window(DAY)}`, alice.admin));
    expect(agg.totals).toMatchObject({ requests: 1, total_cost: "1.5" });
    expect(agg.groups.map((g) => g.key)).toEqual([alice.id]);
  });

  it("BOLA: another user's id answers 404, exactly like a missing one", async () => {
    const missing = crypto.randomUUID();
    for (const path of ["/requests", "/requests/aggregate"]) {
      const foreign = await expectError(await api("GET", `${path}?user_id=${bob.id}`, alice.admin), 404, "not_found");
      const absent = await expectError(await api("GET", `${path}?user_id=${missing}`, alice.admin), 404, "not_found");
      expect(foreign.message.replace(bob.id, missing)).toBe(absent.message);
    }
    // Inference keys do not open the admin API.
    await expectError(await api("GET", "/requests", alice.inference), 403, "permission_denied");
  });
});

describe("analytics: OpenAPI", () => {
  it("documents every filter as a query parameter and the aggregate's shape", async () => {
    const res = await SELF.fetch("https://gateway.test/admin/openapi.json", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    type Schema = { $ref?: string; properties?: Record<string, unknown> };
    type Operation = { parameters?: { name: string; in: string }[]; responses: Record<string, { content?: { "application/json": { schema: Schema } } }> };
    const doc = await ok<{ paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } }>(res);
    // Named schemas are components, referenced with $ref.
    const resolve = (s: Schema): Schema => (s.$ref ? doc.components!.schemas![s.$ref.replace("#/components/schemas/", "")]! : s);
    const list = doc.paths["/admin/api/v1/requests"]!.get!;
    const filters = ["user_id", "api_key_id", "model", "status_code", "created_after", "created_before"];
    expect(list.parameters!.filter((p) => p.in === "query").map((p) => p.name).sort()).toEqual([...filters, "skip", "limit"].sort());
    const aggregate = doc.paths["/admin/api/v1/requests/aggregate"]!.get!;
    expect(aggregate.parameters!.filter((p) => p.in === "query").map((p) => p.name).sort()).toEqual([...filters, "bucket", "group_by"].sort());
    expect(Object.keys(resolve(aggregate.responses["200"]!.content!["application/json"].schema).properties!)).toEqual(
      expect.arrayContaining(["totals", "groups", "buckets", "bucket", "group_by"]),
    );
  });
});
