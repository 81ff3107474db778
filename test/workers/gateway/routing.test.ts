/**
 * Composite models (#19): an alias routed over component models, with fallback before the first
 * byte, backoff, passive health and capacity, against the mock upstream failing on demand (its
 * `statusNNN` modes and POST /__mock/status). Billing goes through the consumer's real write path.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { UsageMessageV1 } from "../../../shared/usage-message.ts";
import { writeUsageBatch } from "../../../workers/consumer/src/usage-writer.ts";
import { createKey, createModel, createTariff, createUser, grantCredits, usageRows, type ModelFixture } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api as adminApi, ok as jsonWith } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep, usageMessageFor } from "./helpers.ts";

const pool = useTestPool();
let userId: string;
let key: string;
const ADMIN = () => env.ADMIN_TOKEN;
const messages = [{ role: "user", content: "hello" }];

beforeAll(async () => {
  userId = await createUser(pool);
  key = (await createKey(pool, userId)).key;
  await grantCredits(pool, userId, "1000");
});

const tag = () => crypto.randomUUID().slice(0, 8);

/** An ordinary model on the mock whose upstream name is unique (`+mode` picks the mock's behaviour). */
function component(mode = "", url = mockBase()): Promise<ModelFixture & { upstreamName: string }> {
  const upstreamName = `up-${tag()}${mode ? `+${mode}` : ""}`;
  return createModel(pool, { url, modelName: upstreamName, open: false }).then((m) => ({ ...m, upstreamName }));
}

interface Part {
  model: ModelFixture;
  weight?: number;
  sort_order?: number;
  enabled?: boolean;
}

/** A composite alias over `parts`, through the admin API; tiny backoff unless `fields` say otherwise. */
async function composite(parts: Part[], fields: Record<string, unknown> = {}): Promise<{ id: string; alias: string }> {
  const alias = `combo-${tag()}`;
  const m = await jsonWith<{ id: string }>(
    await adminApi("POST", "/models", ADMIN(), { alias, is_composite: true, open_to_everyone: true, backoff_initial_ms: 1, backoff_max_ms: 5, ...fields }),
    201,
  );
  const body = parts.map((p) => ({ model_id: p.model.modelId, weight: p.weight, sort_order: p.sort_order, enabled: p.enabled }));
  await jsonWith(await adminApi("PUT", `/models/${m.id}/components`, ADMIN(), body));
  return { id: m.id, alias };
}

const setStatus = (model: string, status: number) =>
  fetch(`${env.MOCK_UPSTREAM_URL}/__mock/status`, { method: "POST", body: JSON.stringify({ model, status }) }).then((r) => r.arrayBuffer());

/** The consumer's write of `message`; returns its analytics row. */
async function consume(message: UsageMessageV1) {
  const client = await pool.connect();
  try {
    expect((await writeUsageBatch(client, [message])).recorded).toBe(1);
  } finally {
    client.release();
  }
  const { rows } = await pool.query<{ total_cost: string | null; attempt_count: number | null; attempts: unknown; served_component: string | null; model: string }>(
    "SELECT total_cost::text AS total_cost, attempt_count, attempts, served_component, model FROM http_analytics WHERE event_id = $1",
    [message.event_id],
  );
  return rows[0]!;
}

describe("admin API", () => {
  it("creates a composite with the reference's defaults; PATCH changes them; components are listed", async () => {
    const a = await component();
    const b = await component();
    const alias = `combo-${tag()}`;
    const created = await jsonWith<Record<string, unknown>>(await adminApi("POST", "/models", ADMIN(), { alias, is_composite: true }), 201);
    expect(created).toMatchObject({
      alias,
      is_composite: true,
      model_name: null,
      hosted_on: null,
      lb_strategy: "weighted_random",
      fallback_enabled: true,
      fallback_on_status: [429, 500, 502, 503, 504],
      fallback_on_rate_limit: true,
      fallback_max_attempts: 3,
      backoff_initial_ms: 100,
      backoff_max_ms: 5000,
      backoff_factor: 2,
      backoff_jitter: "full",
      capacity: null,
    });
    const id = created.id as string;
    const patched = await jsonWith<Record<string, unknown>>(
      await adminApi("PATCH", `/models/${id}`, ADMIN(), { lb_strategy: "priority", fallback_on_status: [503], fallback_max_attempts: 2, backoff_jitter: "none", backoff_max_total_ms: null, capacity: 5 }),
    );
    expect(patched).toMatchObject({ lb_strategy: "priority", fallback_on_status: [503], fallback_max_attempts: 2, backoff_jitter: "none", backoff_max_total_ms: null, capacity: 5 });
    const set = await jsonWith<{ data: unknown[] }>(
      await adminApi("PUT", `/models/${id}/components`, ADMIN(), [
        { model_id: a.modelId, weight: 70, sort_order: 1 },
        { model_id: b.modelId, weight: 30, sort_order: 0, enabled: false },
      ]),
    );
    expect(set.data).toEqual([
      { model_id: b.modelId, alias: b.alias, weight: 30, sort_order: 0, enabled: false },
      { model_id: a.modelId, alias: a.alias, weight: 70, sort_order: 1, enabled: true },
    ]);
    expect((await jsonWith<{ data: unknown[] }>(await adminApi("GET", `/models/${id}/components`, ADMIN()))).data).toEqual(set.data);
  });

  it("refuses what cannot route: 400 naming the field", async () => {
    const a = await component();
    expect((await expectError(await adminApi("POST", "/models", ADMIN(), { alias: `c-${tag()}`, is_composite: true, hosted_on: a.endpointId }), 400, "invalid_request_error")).param).toBe("hosted_on");
    expect((await expectError(await adminApi("POST", "/models", ADMIN(), { is_composite: true }), 400, "invalid_request_error")).param).toBe("alias");
    expect((await expectError(await adminApi("POST", "/models", ADMIN(), { alias: `c-${tag()}`, model_name: "x" }), 400, "invalid_request_error")).param).toBe("hosted_on");
    const c = await composite([{ model: a }]);
    const inner = await composite([{ model: a }]);
    // Composites do not nest; weights are 1–100; a model appears once; a plain model has no components.
    expect((await expectError(await adminApi("PUT", `/models/${c.id}/components`, ADMIN(), [{ model_id: inner.id }]), 400, "invalid_request_error")).param).toBe("[0].model_id");
    expect((await expectError(await adminApi("PUT", `/models/${c.id}/components`, ADMIN(), [{ model_id: a.modelId, weight: 0 }]), 400, "invalid_request_error")).param).toBe("[0].weight");
    expect((await expectError(await adminApi("PUT", `/models/${c.id}/components`, ADMIN(), [{ model_id: a.modelId, weight: 101 }]), 400, "invalid_request_error")).param).toBe("[0].weight");
    expect((await expectError(await adminApi("PUT", `/models/${c.id}/components`, ADMIN(), [{ model_id: a.modelId }, { model_id: a.modelId }]), 400, "invalid_request_error")).param).toBe("[1].model_id");
    expect((await expectError(await adminApi("PUT", `/models/${c.id}/components`, ADMIN(), [{ model_id: crypto.randomUUID() }]), 400, "invalid_request_error")).param).toBe("[0].model_id");
    await expectError(await adminApi("PUT", `/models/${a.modelId}/components`, ADMIN(), []), 400, "invalid_request_error");
    await expectError(await adminApi("PATCH", `/models/${c.id}`, ADMIN(), { hosted_on: a.endpointId }), 400, "invalid_request_error");
    await expectError(await adminApi("PATCH", `/models/${c.id}`, ADMIN(), { lb_strategy: "round_robin" }), 400, "invalid_request_error");
    await expectError(await adminApi("PATCH", `/models/${c.id}`, ADMIN(), { capacity: 0 }), 400, "invalid_request_error");
    // Still as it was.
    expect((await jsonWith<{ data: unknown[] }>(await adminApi("GET", `/models/${c.id}/components`, ADMIN()))).data).toHaveLength(1);
  });
});

describe("fallback before the first byte", () => {
  it("primary 503 → secondary serves (JSON), billed once at the composite's tariff", async () => {
    const primary = await component("status503");
    const secondary = await component();
    // The components' own prices never apply: the customer pays the alias they named.
    await createTariff(pool, primary.modelId, { purpose: "realtime", input: "1", output: "1" });
    await createTariff(pool, secondary.modelId, { purpose: "realtime", input: "1", output: "1" });
    const c = await composite([{ model: primary, sort_order: 0 }, { model: secondary, sort_order: 1 }], { lb_strategy: "priority" });
    await createTariff(pool, c.id, { purpose: "realtime", input: "0.001", output: "0.002" });

    const res = await post("/chat/completions", { model: c.alias, messages }, key);
    const body = await jsonWith<{ model: string; usage: { cost?: string } }>(res);
    expect(body.model).toBe(c.alias);
    // 12 prompt tokens × 0.001 + 9 completion tokens × 0.002
    expect(body.usage.cost).toBe("0.03");
    const msg = await usageMessageFor(res);
    expect(msg.model).toBe(c.alias);
    expect(msg.served_model).toBe(secondary.upstreamName);
    expect(msg.routing).toEqual({
      attempts: [
        { component: primary.alias, status: 503, error: null },
        { component: secondary.alias, status: 200, error: null },
      ],
      served_by: secondary.alias,
    });
    const before = (await usageRows(pool, userId)).length;
    const row = await consume(msg as UsageMessageV1);
    expect(row).toMatchObject({ total_cost: "0.03", attempt_count: 2, served_component: secondary.alias, model: c.alias });
    expect(row.attempts).toEqual(msg.routing!.attempts);
    const charges = (await usageRows(pool, userId)).slice(before);
    expect(charges).toEqual([expect.objectContaining({ source_id: `usage:${msg.event_id}`, amount: "0.03" })]);

    // The analytics API shows the attempts.
    const listed = await jsonWith<{ data: { event_id: string; attempt_count: number; attempts: unknown; served_component: string }[] }>(
      await adminApi("GET", `/requests?model=${c.alias}`, ADMIN()),
    );
    expect(listed.data.find((r) => r.event_id === msg.event_id)).toMatchObject({ attempt_count: 2, served_component: secondary.alias, attempts: msg.routing!.attempts });
  });

  it("primary 503 → secondary serves (stream), the bytes name the alias", async () => {
    const primary = await component("status503");
    const secondary = await component();
    const c = await composite([{ model: primary, sort_order: 0 }, { model: secondary, sort_order: 1 }], { lb_strategy: "priority" });
    await createTariff(pool, c.id, { purpose: "realtime", input: "0.001", output: "0.002" });
    const res = await post("/chat/completions", { model: c.alias, messages, stream: true, stream_options: { include_usage: true } }, key);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("data: [DONE]");
    expect(text).toContain(`"model":"${c.alias}"`);
    expect(text).not.toContain(secondary.upstreamName);
    const msg = await usageMessageFor(res);
    expect(msg.truncated).toBe(false);
    expect(msg.routing?.attempts.map((a) => a.status)).toEqual([503, 200]);
    expect(msg.routing?.served_by).toBe(secondary.alias);
    expect((await consume(msg as UsageMessageV1)).total_cost).toBe("0.03");
  });

  it("a connect error moves on; 429 too unless fallback_on_rate_limit is off", async () => {
    const dead = await component("", "http://127.0.0.1:9/v1");
    const limited = await component("status429");
    const ok = await component();
    const c = await composite([{ model: dead, sort_order: 0 }, { model: limited, sort_order: 1 }, { model: ok, sort_order: 2 }], { lb_strategy: "priority" });
    const res = await post("/chat/completions", { model: c.alias, messages }, key);
    expect(res.status).toBe(200);
    expect((await usageMessageFor(res)).routing?.attempts).toEqual([
      { component: dead.alias, status: 502, error: "connect" },
      { component: limited.alias, status: 429, error: null },
      { component: ok.alias, status: 200, error: null },
    ]);

    const strict = await composite([{ model: limited, sort_order: 0 }, { model: ok, sort_order: 1 }], { lb_strategy: "priority", fallback_on_rate_limit: false });
    const refused = await post("/chat/completions", { model: strict.alias, messages }, key);
    expect(refused.status).toBe(429);
    expect((await usageMessageFor(refused)).routing).toEqual({ attempts: [{ component: limited.alias, status: 429, error: null }], served_by: null });
  });

  it("a timeout moves on (the upstream timeout bounds each attempt)", async () => {
    const hung = await component("hang");
    const ok = await component();
    const c = await composite([{ model: hung, sort_order: 0 }, { model: ok, sort_order: 1 }], { lb_strategy: "priority" });
    const res = await post("/chat/completions", { model: c.alias, messages, stream: true }, key);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("[DONE]");
    expect((await usageMessageFor(res)).routing?.attempts).toEqual([
      { component: hung.alias, status: 504, error: "timeout" },
      { component: ok.alias, status: 200, error: null },
    ]);
  });

  it("fallback_enabled: false makes one attempt and passes its error on", async () => {
    const down = await component("status503");
    const ok = await component();
    const c = await composite([{ model: down, sort_order: 0 }, { model: ok, sort_order: 1 }], { lb_strategy: "priority", fallback_enabled: false });
    const res = await post("/chat/completions", { model: c.alias, messages }, key);
    expect(res.status).toBe(503);
    expect((await usageMessageFor(res)).routing).toEqual({ attempts: [{ component: down.alias, status: 503, error: null }], served_by: null });
  });

  it("the Responses API over chat falls back too", async () => {
    const down = await component("status503");
    const ok = await component();
    const c = await composite([{ model: down, sort_order: 0 }, { model: ok, sort_order: 1 }], { lb_strategy: "priority", responses_via_chat: true });
    const res = await post("/responses", { model: c.alias, input: "hello", store: false }, key);
    const body = await jsonWith<{ object: string; model: string; status: string }>(res);
    expect(body).toMatchObject({ object: "response", model: c.alias, status: "completed" });
    expect((await usageMessageFor(res)).routing?.attempts.map((a) => a.status)).toEqual([503, 200]);
  });

  it("all fail: the last upstream error in the OpenAI envelope, after fallback_max_attempts", async () => {
    const parts = await Promise.all(["status503", "status502", "status500", "status504"].map((m) => component(m)));
    const c = await composite(parts.map((model, i) => ({ model, sort_order: i })), { lb_strategy: "priority" });
    const res = await post("/chat/completions", { model: c.alias, messages }, key);
    expect(res.status).toBe(500);
    // The upstream's own envelope, as a plain alias passes it on.
    expect(((await res.json()) as { error: { code: string; type: string } }).error).toMatchObject({ code: "mock_500", type: "server_error" });
    const msg = await usageMessageFor(res);
    expect(msg.status_code).toBe(500);
    expect(msg.routing).toEqual({ attempts: parts.slice(0, 3).map((p, i) => ({ component: p.alias, status: [503, 502, 500][i], error: null })), served_by: null });

    const two = await composite(parts.map((model, i) => ({ model, sort_order: i })), { lb_strategy: "priority", fallback_max_attempts: 2 });
    const res2 = await post("/chat/completions", { model: two.alias, messages }, key);
    expect(res2.status).toBe(502);
    const body = (await res2.json()) as { error: { message: string; type: string; code: string } };
    expect(body.error).toMatchObject({ code: "mock_502", type: "server_error" });
    expect((await usageMessageFor(res2)).routing?.attempts).toHaveLength(2);

    // Every component unreachable: the gateway's own 502 envelope.
    const dead = await Promise.all([component("", "http://127.0.0.1:9/v1"), component("", "http://127.0.0.1:9/v1")]);
    const gone = await composite(dead.map((model) => ({ model })));
    await expectError(await post("/chat/completions", { model: gone.alias, messages }, key), 502, "upstream_error");
  });

  it("backoff_max_total_ms bounds the waits: no attempt that would exceed it", async () => {
    const parts = await Promise.all(["status503", "status503", "status503"].map((m) => component(m)));
    const c = await composite(parts.map((model, i) => ({ model, sort_order: i })), {
      lb_strategy: "priority",
      backoff_initial_ms: 200,
      backoff_max_ms: 5000,
      backoff_jitter: "none",
      backoff_max_total_ms: 300,
    });
    const started = Date.now();
    const res = await post("/chat/completions", { model: c.alias, messages }, key);
    expect(res.status).toBe(503);
    // 200 ms, then 400 ms would pass the 300 ms budget: two attempts.
    expect((await usageMessageFor(res)).routing?.attempts).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it("a stream that has started and is cut is not retried", async () => {
    const cut = await component("cut_stream");
    const ok = await component();
    const c = await composite([{ model: cut, sort_order: 0 }, { model: ok, sort_order: 1 }], { lb_strategy: "priority" });
    const res = await post("/chat/completions", { model: c.alias, messages, stream: true }, key);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    const msg = await usageMessageFor(res);
    expect(msg.truncated).toBe(true);
    expect(msg.routing).toEqual({ attempts: [{ component: cut.alias, status: 200, error: null }], served_by: cut.alias });
  });

  it("no enabled component: 503 in the envelope", async () => {
    const a = await component();
    const off = await composite([{ model: a, enabled: false }]);
    await expectError(await post("/chat/completions", { model: off.alias, messages }, key), 503, "service_unavailable");
    const empty = await composite([]);
    await expectError(await post("/chat/completions", { model: empty.alias, messages }, key), 503, "service_unavailable");
  });
});

describe("load balancing", () => {
  it("priority order is respected", async () => {
    const first = await component();
    const second = await component();
    const c = await composite([{ model: second, sort_order: 5, weight: 100 }, { model: first, sort_order: 1, weight: 1 }], { lb_strategy: "priority" });
    for (let i = 0; i < 10; i++) {
      const res = await post("/chat/completions", { model: c.alias, messages }, key);
      expect(res.status).toBe(200);
      expect((await usageMessageFor(res)).routing?.served_by).toBe(first.alias);
    }
  });

  it("weighted_random splits requests by weight (end to end; 1,000 picks: test/unit/routing.test.ts)", async () => {
    const heavy = await component();
    const light = await component();
    const c = await composite([{ model: heavy, weight: 75 }, { model: light, weight: 25 }]);
    const counts = new Map<string, number>();
    const n = 80;
    for (let batch = 0; batch < n / 20; batch++) {
      const responses = await Promise.all(Array.from({ length: 20 }, () => post("/chat/completions", { model: c.alias, messages }, key)));
      for (const res of responses) {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        const served = (await usageMessageFor(res)).routing!.served_by!;
        counts.set(served, (counts.get(served) ?? 0) + 1);
      }
    }
    // Binomial(80, 0.75): mean 60, σ ≈ 3.9; ±4.5σ.
    expect(counts.get(heavy.alias) ?? 0).toBeGreaterThanOrEqual(42);
    expect(counts.get(heavy.alias) ?? 0).toBeLessThanOrEqual(78);
    expect(counts.get(light.alias) ?? 0).toBeGreaterThanOrEqual(2);
  });
});

describe("passive health", () => {
  it("a component failing N times in a row is skipped for the cool-down, then recovers", async () => {
    const flaky = await component();
    const steady = await component();
    const c = await composite([{ model: flaky, sort_order: 0 }, { model: steady, sort_order: 1 }], { lb_strategy: "priority" });
    await setStatus(flaky.upstreamName, 503);
    try {
      // ROUTING_EJECT_AFTER_FAILURES = 3 (vitest.config.ts): three requests each try it first.
      for (let i = 0; i < 3; i++) {
        const res = await post("/chat/completions", { model: c.alias, messages }, key);
        expect(res.status).toBe(200);
        expect((await usageMessageFor(res)).routing?.attempts.map((a) => a.component)).toEqual([flaky.alias, steady.alias]);
      }
      // Ejected: no attempt is spent on it.
      const skipped = await post("/chat/completions", { model: c.alias, messages }, key);
      expect((await usageMessageFor(skipped)).routing?.attempts.map((a) => a.component)).toEqual([steady.alias]);
    } finally {
      await setStatus(flaky.upstreamName, 0);
    }
    // After ROUTING_EJECT_COOLDOWN_MS (1 s in tests) it is tried again, and serves.
    await sleep(1100);
    const back = await post("/chat/completions", { model: c.alias, messages }, key);
    expect((await usageMessageFor(back)).routing).toEqual({ attempts: [{ component: flaky.alias, status: 200, error: null }], served_by: flaky.alias });
  });
});

describe("capacity", () => {
  it("a model at capacity answers 429 concurrency_limit_exceeded with Retry-After until a slot frees", async () => {
    const m = await component("slow");
    await jsonWith(await adminApi("PATCH", `/models/${m.modelId}`, ADMIN(), { capacity: 1, open_to_everyone: true }));
    const held = await post("/chat/completions", { model: m.alias, messages, stream: true }, key);
    expect(held.status).toBe(200);
    const refused = await post("/chat/completions", { model: m.alias, messages }, key);
    const err = await expectError(refused, 429, "concurrency_limit_exceeded");
    expect(err.type).toBe("rate_limit_error");
    expect(refused.headers.get("retry-after")).toBe("1");
    await held.text(); // the stream ends: its slot is given back
    await sleep(100);
    const after = await post("/chat/completions", { model: m.alias, messages }, key);
    expect(after.status).toBe(200);
    await after.arrayBuffer();
  });

  it("a composite whose component is at capacity uses the next component", async () => {
    const busy = await component("slow");
    const spare = await component();
    await jsonWith(await adminApi("PATCH", `/models/${busy.modelId}`, ADMIN(), { capacity: 1 }));
    const c = await composite([{ model: busy, sort_order: 0 }, { model: spare, sort_order: 1 }], { lb_strategy: "priority" });
    const held = await post("/chat/completions", { model: c.alias, messages, stream: true }, key);
    expect(held.status).toBe(200);
    const res = await post("/chat/completions", { model: c.alias, messages }, key);
    expect(res.status).toBe(200);
    expect((await usageMessageFor(res)).routing).toEqual({
      attempts: [
        { component: busy.alias, status: 429, error: "capacity" },
        { component: spare.alias, status: 200, error: null },
      ],
      served_by: spare.alias,
    });
    await held.text();
  });
});
