/**
 * Security: who may call what, what reaches the upstream, and that no secret is ever logged or
 * enqueued.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { encryptSecret, importSecretKey } from "../../../shared/secret-box.ts";
import { createKey, createModel, createUser } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { expectError, mockBase, post, upstreamRequest, usageMessageFor } from "./helpers.ts";
import { rawBodies } from "./test-main.ts";

const pool = useTestPool();
const logs: MockInstance[] = [];

beforeAll(async () => {
  for (const level of ["log", "info", "warn", "error", "debug"] as const) logs.push(vi.spyOn(console, level));
});

afterEach(() => {
  // Nothing any test here did may have printed a secret.
  const printed = logs.flatMap((spy) => spy.mock.calls.map((args) => args.map(String).join(" "))).join("\n");
  for (const secret of secretsSeen) expect(printed).not.toContain(secret);
});

const secretsSeen = new Set<string>([env.ADMIN_TOKEN, env.ENCRYPTION_KEY]);

function admin(path: string, token: string | null) {
  return SELF.fetch(`https://gateway.test/admin/api/v1${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

describe("key purposes and the admin boundary", () => {
  it("a platform key cannot call inference; an inference key cannot call admin", async () => {
    const userId = await createUser(pool);
    const platform = await createKey(pool, userId, "platform");
    const inference = await createKey(pool, userId, "realtime");
    secretsSeen.add(platform.key).add(inference.key);
    const model = await createModel(pool, { url: mockBase() });

    await expectError(await post("/chat/completions", { model: model.alias, messages: [] }, platform.key), 403, "permission_denied");
    await expectError(await admin("/users/current", inference.key), 403, "permission_denied");
    // A platform key acts with its owner's roles; this owner has none, so it is a standard user.
    expect(await (await admin("/users/current", platform.key)).json()).toMatchObject({ id: userId, roles: ["standard_user"] });
  });

  it("the admin API needs credentials; the admin token works; near-misses do not", async () => {
    await expectError(await admin("/users/current", null), 401, "invalid_api_key");
    await expectError(await admin("/users/current", env.ADMIN_TOKEN + "x"), 401, "invalid_api_key");
    await expectError(await admin("/users/current", env.ADMIN_TOKEN.slice(0, -1)), 401, "invalid_api_key");
    const res = await admin("/users/current", env.ADMIN_TOKEN);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: "00000000-0000-0000-0000-000000000000", roles: ["platform_manager", "standard_user"] });
    // Unknown admin routes are only revealed to admins.
    await expectError(await admin("/nope", null), 401, "invalid_api_key");
  });

  it("a deleted key and another owner's closed model are refused", async () => {
    const owner = await createUser(pool);
    const mine = await createModel(pool, { url: mockBase(), open: false });
    const { rows } = await pool.query<{ id: string }>("INSERT INTO groups (name) VALUES ($1) RETURNING id", [`private-${crypto.randomUUID()}`]);
    await pool.query("INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)", [owner, rows[0]!.id]);
    await pool.query("INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, $2)", [mine.modelId, rows[0]!.id]);

    const intruder = await createKey(pool, await createUser(pool));
    secretsSeen.add(intruder.key);
    await expectError(await post("/chat/completions", { model: mine.alias, messages: [] }, intruder.key), 403, "model_access_denied");

    const deleted = await createKey(pool, owner);
    secretsSeen.add(deleted.key);
    await pool.query("UPDATE api_keys SET is_deleted = true WHERE id = $1", [deleted.id]);
    await expectError(await post("/chat/completions", { model: mine.alias, messages: [] }, deleted.key), 401, "invalid_api_key");
  });
});

describe("what reaches the upstream", () => {
  it("client credentials, cookies, hop-by-hop and Cloudflare headers are stripped; upstream auth is the endpoint's", async () => {
    const user = await createUser(pool);
    const { key } = await createKey(pool, user);
    secretsSeen.add(key).add("sk-upstream-very-secret");
    const sealed = await encryptSecret(await importSecretKey(env.ENCRYPTION_KEY), "sk-upstream-very-secret");
    const model = await createModel(pool, { url: mockBase(), apiKeyEncrypted: sealed });
    const marker = crypto.randomUUID();
    const res = await post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: marker }] }, key, {
      cookie: "session=abc",
      "x-api-key": "client-provider-key",
      "proxy-authorization": "Basic Zm9vOmJhcg==",
      "x-forwarded-for": "203.0.113.9",
      "cf-connecting-ip": "203.0.113.9",
      te: "trailers",
      "x-custom": "nope",
    });
    expect(res.status).toBe(200);
    const sent = await upstreamRequest((r) => JSON.stringify(r.body).includes(marker));
    expect(sent.headers.authorization).toBe("Bearer sk-upstream-very-secret");
    for (const h of ["cookie", "x-api-key", "proxy-authorization", "x-forwarded-for", "cf-connecting-ip", "te", "x-custom"]) {
      expect(sent.headers[h], h).toBeUndefined();
    }
    expect(JSON.stringify(sent)).not.toContain(key);
    // The upstream secret never comes back to the client.
    expect(await res.text()).not.toContain("sk-upstream-very-secret");
  });

  it("the client cannot choose the upstream: a URL in the body or headers changes nothing", async () => {
    const { key } = await createKey(pool, await createUser(pool));
    secretsSeen.add(key);
    const model = await createModel(pool, { url: mockBase() });
    const marker = crypto.randomUUID();
    const res = await post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: marker }], base_url: "http://169.254.169.254/" }, key, {
      host: "169.254.169.254",
      "x-forwarded-host": "evil.example",
    });
    expect(res.status).toBe(200);
    expect((await upstreamRequest((r) => JSON.stringify(r.body).includes(marker))).path).toBe("/v1/chat/completions");
  });
});

describe("queue messages", () => {
  it("carry the key's id, never the key, the Authorization header or any secret", async () => {
    const { key, id } = await createKey(pool, await createUser(pool));
    secretsSeen.add(key);
    const model = await createModel(pool, { url: mockBase() });
    const res = await post("/chat/completions", { model: model.alias, messages: [] }, key);
    expect((await usageMessageFor(res)).api_key_id).toBe(id);
    const all = rawBodies.join("\n");
    for (const secret of secretsSeen) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/tg-[A-Za-z0-9_-]{43}/);
    expect(all.toLowerCase()).not.toContain("bearer");
  });
});
