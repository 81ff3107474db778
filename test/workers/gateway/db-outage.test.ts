/**
 * The database can fail without taking the gateway down. The gateway is pointed at a throwaway
 * Postgres cluster (test/support/fault-control.ts; never the shared server) that the test stops:
 * keys, models and balances the isolate has seen keep being served from its cache
 * (stale-if-error); what it cannot answer is a 503 `service_unavailable` with Retry-After, recorded
 * as `access = 'database_unavailable'`; a database that accepts connections and never answers costs
 * a request the connect timeout, not a hang.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, DbSettingsSchema, type Pool } from "../../../shared/db.ts";
import gateway from "../../../workers/gateway/src/index.ts";
import { createKey, createModel, createUser } from "../../support/db-fixtures.ts";
import { expectError, mockBase, sleep, usageMessageFor } from "./helpers.ts";

const TTL = Number(env.ACCESS_CACHE_TTL_MS);

async function control(action: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${env.FAULT_CONTROL_URL}${action}`, { method: "POST" });
  if (!res.ok) throw new Error(`fault control ${action}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

let throwawayUrl: string | undefined;
let pool: Pool;
let outageEnv: Cloudflare.Env;

beforeAll(async () => {
  const created = await control("/pg/create");
  if (typeof created.url !== "string") return;
  throwawayUrl = created.url;
  outageEnv = { ...env, DATABASE_URL: throwawayUrl, DB_CONNECT_TIMEOUT_MS: "1000", DB_QUERY_TIMEOUT_MS: "1000" } as Cloudflare.Env;
  pool = createPool(DbSettingsSchema.parse(outageEnv));
}, 120_000);

afterAll(async () => {
  await pool?.end().catch(() => undefined);
});

/** A request to the gateway running on `e` (not SELF: that one is bound to the shared test database). */
async function call(e: Cloudflare.Env, method: string, path: string, key: string | null, body?: unknown): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await gateway.fetch(
    new Request(`https://gateway.test${path}`, {
      method,
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    e,
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return new Response(text, { status: res.status, headers: res.headers });
}

const chat = (e: Cloudflare.Env, key: string, model: string) => call(e, "POST", "/ai/v1/chat/completions", key, { model, messages: [{ role: "user", content: "hi" }] });

describe.skipIf(env.TEST_DATABASE_EMBEDDED === "true")("Postgres down", () => {
  it("warm keys keep working from the cache, cold ones get a quick 503 with Retry-After (recorded as database_unavailable), and recovery is automatic", async (t) => {
    if (!throwawayUrl) t.skip();
    const userId = await createUser(pool);
    const warm = await createKey(pool, userId);
    const cold = await createKey(pool, userId);
    const model = await createModel(pool, { url: mockBase() });
    expect((await chat(outageEnv, warm.key, model.alias)).status).toBe(200);

    await control("/pg/stop");
    try {
      await sleep(TTL + 50);
      // Past the TTL, the entries are stale: served from the cache while Postgres cannot answer.
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const res = await chat(outageEnv, warm.key, model.alias);
        expect(res.status, await res.clone().text()).toBe(200);
        expect(Date.now() - started).toBeLessThan(2_500);
      }
      // A key this isolate never saw cannot be answered: 503 with Retry-After, quickly, and metered.
      const started = Date.now();
      const refused = await chat(outageEnv, cold.key, model.alias);
      expect(Date.now() - started).toBeLessThan(2_500);
      await expectError(refused.clone(), 503, "service_unavailable");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await usageMessageFor(refused)).toMatchObject({ access: "database_unavailable", status_code: 503, api_key_id: null, model: model.alias });
      // The rest of the gateway that needs Postgres: 503 too, never a 500.
      await expectError(await call(outageEnv, "GET", "/admin/api/v1/users", env.ADMIN_TOKEN), 503, "service_unavailable");
      await expectError(await call(outageEnv, "GET", "/ai/v1/models", cold.key), 503, "service_unavailable");
    } finally {
      await control("/pg/start");
    }
    // Back: the cold key works once the isolate's next read succeeds (within a second or two).
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await chat(outageEnv, cold.key, model.alias)).status;
      if (status !== 200) await sleep(200);
    }
    expect(status).toBe(200);
  });

  it("a database that accepts connections and never answers costs the connect timeout, not a hang", async () => {
    const { port } = (await control("/blackhole")) as { port: number };
    const hanging = { ...env, DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`, DB_CONNECT_TIMEOUT_MS: "700", DB_QUERY_TIMEOUT_MS: "700" } as Cloudflare.Env;
    const { generateApiKey } = await import("../../../shared/api-keys.ts");
    const started = Date.now();
    const res = await chat(hanging, generateApiKey(), "any-model");
    const took = Date.now() - started;
    await expectError(res.clone(), 503, "service_unavailable");
    expect(took).toBeLessThan(3_000);
    expect(await usageMessageFor(res)).toMatchObject({ access: "database_unavailable" });
  });
});
