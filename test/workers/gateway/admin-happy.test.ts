/**
 * Admin API, happy paths: users (with balances), API keys (secret shown once, works at once,
 * locked out within the cache TTL after deletion), endpoints (upstream key sealed and used), models
 * (open_to_everyone is what the gateway's access gate sees) and versioned tariffs.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { decryptSecret, importSecretKey } from "../../../shared/secret-box.ts";
import { createModel, createUser } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api, ok, TTL_MS } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep, upstreamRequest } from "./helpers.ts";

const pool = useTestPool();

interface User {
  id: string | null;
  username: string;
  email: string | null;
  roles: string[];
  balance: string | null;
}
interface Key {
  id: string;
  key?: string;
  key_prefix: string;
  purpose: string;
  requests_per_second: number | null;
  burst_size: number | null;
  created_at: string;
  last_used_at: string | null;
}
interface Page<T> {
  data: T[];
  total_count: number;
  skip: number;
  limit: number;
}
interface Tariff {
  id: string;
  purpose: string;
  completion_window: string | null;
  input_price_per_token: string;
  output_price_per_token: string;
  valid_from: string;
  valid_until: string | null;
}

const suffix = () => crypto.randomUUID().slice(0, 8);

async function newUser(roles: string[] = []): Promise<User & { id: string }> {
  const name = `u-${suffix()}`;
  return ok<User & { id: string }>(await api("POST", "/users", env.ADMIN_TOKEN, { username: name, email: `${name}@example.com`, roles }), 201);
}

describe("users", () => {
  it("a manager creates a user with roles; reads it back with its balance", async () => {
    const user = await newUser(["billing_manager"]);
    expect(user.roles.sort()).toEqual(["billing_manager", "standard_user"]);
    expect(user.balance).toBe("0");

    // A grant folded into the checkpoint, then a charge the checkpoint has not seen yet: the
    // balance is the checkpoint plus the ledger rows after it.
    const ledger = (type: string, amount: string) =>
      pool.query<{ seq: string }>(
        "INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id) VALUES ($1, $2, $3, $4) RETURNING seq::text AS seq",
        [user.id, type, amount, `test:${type}:${crypto.randomUUID()}`],
      );
    const grant = await ledger("admin_grant", "12.5");
    await pool.query("INSERT INTO user_balance_checkpoints (user_id, balance, last_seq) VALUES ($1, 12.5, $2)", [user.id, grant.rows[0]!.seq]);
    await ledger("usage", "0.25");
    const read = await ok<User>(await api("GET", `/users/${user.id}`, env.ADMIN_TOKEN));
    expect(read).toMatchObject({ id: user.id, username: user.username, email: user.email });
    expect(read.balance).toBe("12.25");
  });

  it("lists users with skip/limit and a total count", async () => {
    await newUser();
    await newUser();
    const first = await ok<Page<User>>(await api("GET", "/users?limit=1", env.ADMIN_TOKEN));
    expect(first).toMatchObject({ skip: 0, limit: 1 });
    expect(first.data).toHaveLength(1);
    expect(first.total_count).toBeGreaterThanOrEqual(2);
    const second = await ok<Page<User>>(await api("GET", "/users?skip=1&limit=1", env.ADMIN_TOKEN));
    expect(second.data).toHaveLength(1);
    expect(second.data[0]!.id).not.toBe(first.data[0]!.id);
    expect(second.total_count).toBe(first.total_count);
  });

  it("`current` is the caller: the built-in system user for the ADMIN_TOKEN, the owner for a platform key", async () => {
    expect(await ok<User>(await api("GET", "/users/current", env.ADMIN_TOKEN))).toMatchObject({ id: "00000000-0000-0000-0000-000000000000", username: "admin-token", roles: ["platform_manager", "standard_user"] });

    const user = await newUser();
    const key = await ok<Key>(await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "admin", purpose: "platform" }), 201);
    expect(await ok<User>(await api("GET", "/users/current", key.key!))).toMatchObject({ id: user.id, roles: ["standard_user"], balance: "0" });
  });
});

describe("API keys", () => {
  it("returns the secret once; lists show the prefix and limits, never the secret; the key works at once", async () => {
    const user = await newUser();
    const created = await ok<Key>(
      await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "ci", purpose: "batch", requests_per_second: 5, burst_size: 10 }),
      201,
    );
    expect(created.key).toMatch(/^tg-[A-Za-z0-9_-]{43}$/);
    expect(created.key!.startsWith(created.key_prefix)).toBe(true);
    expect(created).toMatchObject({ purpose: "batch", requests_per_second: 5, burst_size: 10, last_used_at: null });

    const listText = await (await api("GET", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN)).text();
    const list = JSON.parse(listText) as Page<Key>;
    expect(list.total_count).toBe(1);
    expect(list.data[0]).toMatchObject({ id: created.id, key_prefix: created.key_prefix, purpose: "batch", requests_per_second: 5, burst_size: 10 });
    expect(list.data[0]).not.toHaveProperty("key");
    expect(listText).not.toContain(created.key!);
    expect(listText).not.toContain("key_hash");

    const model = await createModel(pool, { url: mockBase() });
    const res = await post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, created.key!);
    expect(res.status, await res.text()).toBe(200);
  });

  it("a deleted key is refused by the gateway within its cache TTL", async () => {
    const user = await newUser();
    const { id, key } = await ok<Key>(await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "doomed" }), 201);
    const model = await createModel(pool, { url: mockBase() });
    const chat = () => post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, key!);
    // Warm the isolate's key cache, so the deletion has to outlive a cached "valid".
    expect((await chat()).status).toBe(200);

    const deleted = await api("DELETE", `/users/${user.id}/api-keys/${id}`, env.ADMIN_TOKEN);
    expect(deleted.status).toBe(204);
    // The cached "valid" was stored before the deletion, so it has expired one TTL after it: from
    // then on every request is refused.
    await sleep(TTL_MS);
    await expectError(await chat(), 401, "invalid_api_key");
    await expectError(await chat(), 401, "invalid_api_key");

    const list = await ok<Page<Key>>(await api("GET", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN));
    expect(list.data.map((k) => k.id)).not.toContain(id);
    // Soft delete: the row stays for analytics and audit.
    const { rows } = await pool.query<{ is_deleted: boolean }>("SELECT is_deleted FROM api_keys WHERE id = $1", [id]);
    expect(rows[0]?.is_deleted).toBe(true);
  });

  it("rotation issues a new secret for the same key; the old one stops within the TTL", async () => {
    const user = await newUser();
    const first = await ok<Key>(await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "rotating" }), 201);
    const rotated = await ok<Key>(await api("POST", `/users/${user.id}/api-keys/${first.id}/rotate`, env.ADMIN_TOKEN));
    expect(rotated.id).toBe(first.id);
    expect(rotated.key).not.toBe(first.key);
    const model = await createModel(pool, { url: mockBase() });
    const chat = (key: string) => post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, key);
    expect((await chat(rotated.key!)).status).toBe(200);
    await sleep(TTL_MS + 50);
    await expectError(await chat(first.key!), 401, "invalid_api_key");
  });
});

describe("endpoints and models", () => {
  it("an endpoint's api_key is sealed, never returned, and is what the upstream receives", async () => {
    const upstreamKey = `sk-upstream-${suffix()}`;
    const ep = await ok<Record<string, unknown>>(
      await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: mockBase(), api_key: upstreamKey, auth_header_name: "x-api-key", auth_header_prefix: "" }),
      201,
    );
    expect(ep).toMatchObject({ url: mockBase(), has_api_key: true, auth_header_name: "x-api-key", auth_header_prefix: "" });
    expect(JSON.stringify(ep)).not.toContain(upstreamKey);

    const { rows } = await pool.query<{ api_key_encrypted: string }>("SELECT api_key_encrypted FROM inference_endpoints WHERE id = $1", [ep.id]);
    expect(rows[0]!.api_key_encrypted).not.toContain(upstreamKey);
    expect(await decryptSecret(await importSecretKey(env.ENCRYPTION_KEY), rows[0]!.api_key_encrypted)).toBe(upstreamKey);

    const alias = `m-${suffix()}`;
    const model = await ok<Record<string, unknown>>(
      await api("POST", "/models", env.ADMIN_TOKEN, { model_name: "mock-gpt", alias, hosted_on: ep.id, open_to_everyone: true, metadata: { family: "mock" } }),
      201,
    );
    expect(model).toMatchObject({ alias, model_name: "mock-gpt", hosted_on: ep.id, open_to_everyone: true, metadata: { family: "mock" }, model_type: "chat" });

    const user = await newUser();
    const { key } = await ok<Key>(await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "k" }), 201);
    const marker = `hello-${suffix()}`;
    const res = await post("/chat/completions", { model: alias, messages: [{ role: "user", content: marker }] }, key!);
    expect(res.status, await res.text()).toBe(200);
    const seen = await upstreamRequest((r) => JSON.stringify(r.body).includes(marker));
    expect(seen.headers["x-api-key"]).toBe(upstreamKey);
    // The gateway keeps the opened credential in memory: the next request sends it again, and a
    // rotated one replaces it once the endpoint's cache entry expires.
    const again = `again-${suffix()}`;
    expect((await post("/chat/completions", { model: alias, messages: [{ role: "user", content: again }] }, key!)).status).toBe(200);
    expect((await upstreamRequest((r) => JSON.stringify(r.body).includes(again))).headers["x-api-key"]).toBe(upstreamKey);
    const rotatedKey = `sk-rotated-${suffix()}`;
    await ok(await api("PATCH", `/endpoints/${String(ep.id)}`, env.ADMIN_TOKEN, { api_key: rotatedKey }));
    await sleep(TTL_MS + 50);
    const rotated = `rotated-${suffix()}`;
    expect((await post("/chat/completions", { model: alias, messages: [{ role: "user", content: rotated }] }, key!)).status).toBe(200);
    expect((await upstreamRequest((r) => JSON.stringify(r.body).includes(rotated))).headers["x-api-key"]).toBe(rotatedKey);

    // Listing and reading never show it either; PATCH with null clears it.
    const listed = await (await api("GET", "/endpoints", env.ADMIN_TOKEN)).text();
    expect(listed).not.toContain(upstreamKey);
    expect(listed).not.toContain(rotatedKey);
    expect(listed).not.toContain(rows[0]!.api_key_encrypted);
    const cleared = await ok<Record<string, unknown>>(await api("PATCH", `/endpoints/${String(ep.id)}`, env.ADMIN_TOKEN, { api_key: null, description: "now open" }));
    expect(cleared).toMatchObject({ has_api_key: false, description: "now open" });
  });

  it("models: list, patch (closing it to everyone closes it in the gateway), delete", async () => {
    const ep = await ok<{ id: string }>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: mockBase() }), 201);
    const alias = `m-${suffix()}`;
    const model = await ok<{ id: string }>(await api("POST", "/models", env.ADMIN_TOKEN, { model_name: "mock-gpt", alias, hosted_on: ep.id, open_to_everyone: true }), 201);
    const listed = await ok<Page<{ id: string }>>(await api("GET", "/models?limit=1000", env.ADMIN_TOKEN));
    expect(listed.data.map((m) => m.id)).toContain(model.id);

    const patched = await ok<Record<string, unknown>>(
      await api("PATCH", `/models/${model.id}`, env.ADMIN_TOKEN, { open_to_everyone: false, requests_per_second: 2, burst_size: 3 }),
    );
    expect(patched).toMatchObject({ open_to_everyone: false, requests_per_second: 2, burst_size: 3, alias });

    const user = await createUser(pool);
    const { key } = await ok<Key>(await api("POST", `/users/${user}/api-keys`, env.ADMIN_TOKEN, { name: "k" }), 201);
    await expectError(await post("/chat/completions", { model: alias, messages: [] }, key!), 403, "model_access_denied");

    expect((await api("DELETE", `/models/${model.id}`, env.ADMIN_TOKEN)).status).toBe(204);
    await expectError(await api("GET", `/models/${model.id}`, env.ADMIN_TOKEN), 404, "not_found");
  });

  it("tariffs: a price change closes the old row and opens a new one; unchanged prices are left alone", async () => {
    const ep = await ok<{ id: string }>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: mockBase() }), 201);
    const model = await ok<{ id: string }>(await api("POST", "/models", env.ADMIN_TOKEN, { model_name: "mock-gpt", alias: `m-${suffix()}`, hosted_on: ep.id }), 201);
    const put = (body: unknown) => api("PUT", `/models/${model.id}/tariffs`, env.ADMIN_TOKEN, body);

    const v1 = await ok<{ data: Tariff[] }>(
      await put([
        { purpose: "realtime", input_price_per_token: "0.000001", output_price_per_token: "0.000002" },
        { purpose: "batch", completion_window: "24h", input_price_per_token: "0.0000005", output_price_per_token: "0.000001" },
      ]),
    );
    expect(v1.data).toHaveLength(2);
    const batchV1 = v1.data.find((t) => t.purpose === "batch")!;
    const realtimeV1 = v1.data.find((t) => t.purpose === "realtime")!;

    // Realtime changes; batch is re-sent with the same price spelled differently: untouched.
    const v2 = await ok<{ data: Tariff[] }>(
      await put([
        { purpose: "realtime", input_price_per_token: "0.000003", output_price_per_token: "0.000004" },
        { purpose: "batch", completion_window: "24h", input_price_per_token: "0.00000050", output_price_per_token: "0.000001" },
      ]),
    );
    expect(v2.data.find((t) => t.purpose === "batch")).toEqual(batchV1);
    const realtimeV2 = v2.data.find((t) => t.purpose === "realtime")!;
    expect(realtimeV2.id).not.toBe(realtimeV1.id);
    expect(realtimeV2).toMatchObject({ input_price_per_token: "0.000003", output_price_per_token: "0.000004", valid_until: null });

    const history = await ok<{ data: Tariff[] }>(await api("GET", `/models/${model.id}/tariffs?include_history=true`, env.ADMIN_TOKEN));
    const realtime = history.data.filter((t) => t.purpose === "realtime");
    expect(realtime).toHaveLength(2);
    const closed = realtime.find((t) => t.id === realtimeV1.id)!;
    // The old row keeps its prices and ends exactly where the new one starts.
    expect(closed).toMatchObject({ input_price_per_token: "0.000001", output_price_per_token: "0.000002", valid_from: realtimeV1.valid_from });
    expect(closed.valid_until).toBe(realtimeV2.valid_from);
    expect(realtime.filter((t) => t.valid_until === null)).toHaveLength(1);

    // Without include_history only the active ones; PUT [] closes them all.
    expect((await ok<{ data: Tariff[] }>(await api("GET", `/models/${model.id}/tariffs`, env.ADMIN_TOKEN))).data).toHaveLength(2);
    expect((await ok<{ data: Tariff[] }>(await put([]))).data).toEqual([]);
    const all = await ok<{ data: Tariff[] }>(await api("GET", `/models/${model.id}/tariffs?include_history=true`, env.ADMIN_TOKEN));
    expect(all.data).toHaveLength(3);
    expect(all.data.every((t) => t.valid_until !== null)).toBe(true);
  });
});

describe("OpenAPI", () => {
  it("/admin/openapi.json describes every admin route from the schemas the handlers parse; admins only", async () => {
    const unauthenticated = await SELF.fetch("https://gateway.test/admin/openapi.json");
    expect(unauthenticated.status).toBe(401);

    const res = await SELF.fetch("https://gateway.test/admin/openapi.json", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    type Schema = { $ref?: string; items?: Schema; properties?: Record<string, { pattern?: string }> };
    type Operation = { requestBody?: { content: { "application/json": { schema: Schema } } }; responses: Record<string, { content?: { "application/json": { schema: Schema } } }> };
    const doc = JSON.parse(text) as { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };
    const resolve = (schema: Schema): Schema => (schema.$ref ? doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")]! : schema);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        "/admin/api/v1/endpoints",
        "/admin/api/v1/endpoints/{id}",
        "/admin/api/v1/endpoints/{id}/test",
        "/admin/api/v1/models/{id}/groups",
        "/admin/api/v1/playground/key",
        "/admin/api/v1/models",
        "/admin/api/v1/models/{id}",
        "/admin/api/v1/models/{id}/tariffs",
        "/admin/api/v1/models/{id}/cache-pricing",
        "/admin/api/v1/models/{id}/components",
        "/admin/api/v1/transactions",
        "/admin/api/v1/organizations",
        "/admin/api/v1/organizations/{id}",
        "/admin/api/v1/organizations/{id}/members",
        "/admin/api/v1/organizations/{id}/members/{user_id}",
        "/admin/api/v1/users",
        "/admin/api/v1/users/{id}",
        "/admin/api/v1/users/{user_id}/api-keys",
        "/admin/api/v1/users/{user_id}/api-keys/{id}",
        "/admin/api/v1/users/{user_id}/api-keys/{id}/rotate",
        "/admin/api/v1/groups",
        "/admin/api/v1/groups/{id}",
        "/admin/api/v1/groups/{id}/users",
        "/admin/api/v1/groups/{id}/users/{user_id}",
        "/admin/api/v1/groups/{id}/models",
        "/admin/api/v1/groups/{id}/models/{model_id}",
        "/admin/api/v1/requests",
        "/admin/api/v1/requests/aggregate",
        "/admin/api/v1/requests/{id}",
        "/admin/api/v1/batches/requests",
        "/admin/api/v1/batches/requests/{id}",
        "/admin/api/v1/batches",
        "/admin/api/v1/batches/{id}",
        "/admin/api/v1/users/{id}/password-link",
        "/admin/api/v1/organizations/{id}/invitations",
        "/admin/api/v1/invitations/{token}",
        "/admin/api/v1/invitations/{token}/accept",
      ].sort(),
    );
    const putTariffs = doc.paths["/admin/api/v1/models/{id}/tariffs"]!.put!;
    expect(putTariffs.requestBody!.content["application/json"].schema.$ref).toBe("#/components/schemas/TariffSet");
    expect(resolve(putTariffs.requestBody!.content["application/json"].schema).items!.properties!.input_price_per_token!.pattern).toBe("^\\d+(\\.\\d+)?$");
    expect(Object.keys(putTariffs.responses)).toEqual(expect.arrayContaining(["200", "400", "404"]));
    // Every reference resolves inside the document (no schema-local $defs leaked out), and a
    // schema used by several operations is one named component.
    for (const [, ref] of text.matchAll(/"\$ref":"([^"]+)"/g)) expect(Object.keys(doc.components.schemas).map((name) => `#/components/schemas/${name}`)).toContain(ref);
    expect(text).not.toContain("$defs");
    for (const method of ["get", "patch"]) expect(doc.paths["/admin/api/v1/users/{id}"]![method]!.responses["200"]!.content!["application/json"].schema.$ref).toBe("#/components/schemas/UserView");
    expect(resolve(doc.paths["/admin/api/v1/users"]!.get!.responses["200"]!.content!["application/json"].schema).properties).toHaveProperty("total_count");
    // Write-only and secret fields are never in a response schema.
    const endpointGet = JSON.stringify(resolve(doc.paths["/admin/api/v1/endpoints/{id}"]!.get!.responses["200"]!.content!["application/json"].schema));
    expect(endpointGet).toContain("has_api_key");
    expect(endpointGet).not.toContain("api_key_encrypted");
    expect(endpointGet).not.toContain('"api_key"');
    for (const name of ["ApiKeyView", "ApiKeyViewPage", "ApiKeyWithSecret"]) expect(JSON.stringify(doc.components.schemas[name])).not.toContain("key_hash");
  });
});
