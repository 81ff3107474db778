/**
 * Admin API, error paths: every malformed body or query is a 400 `invalid_request_error` whose
 * `param` names the field; uniqueness clashes are 409; unknown ids are 404; nothing is half-written.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createUser } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { expectError, mockBase } from "./helpers.ts";

const pool = useTestPool();
function api(method: string, path: string, body?: unknown, token = env.ADMIN_TOKEN): Promise<Response> {
  return SELF.fetch(`https://gateway.test/admin/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

async function created<T>(res: Response): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(201);
  return JSON.parse(text) as T;
}

async function badRequest(res: Response, param: string | null): Promise<void> {
  const error = await expectError(res, 400, "invalid_request_error");
  expect(error.param).toBe(param);
}

const suffix = () => crypto.randomUUID().slice(0, 8);
const MISSING = "6f1d2b9e-0000-4000-8000-000000000000";

async function endpoint(): Promise<string> {
  return (await created<{ id: string }>(await api("POST", "/endpoints", { name: `ep-${suffix()}`, url: mockBase() }))).id;
}

describe("request validation", () => {
  it("bodies: not JSON, missing, wrong type, unknown field, each named by param", async () => {
    await badRequest(await api("POST", "/users", "{not json"), null);
    await badRequest(await api("POST", "/users", { email: "a@example.com" }), "username");
    await badRequest(await api("POST", "/users", { username: "x", email: "not-an-email" }), "email");
    await badRequest(await api("POST", "/users", { username: "x", email: "x@example.com", roles: ["root"] }), "roles[0]");
    await badRequest(await api("POST", "/users", { username: "x", email: "x@example.com", is_admin: true }), "is_admin");

    const user = await createUser(pool);
    await badRequest(await api("POST", `/users/${user}/api-keys`, { name: "k", purpose: "superuser" }), "purpose");
    await badRequest(await api("POST", `/users/${user}/api-keys`, { name: "k", requests_per_second: -1 }), "requests_per_second");
    await badRequest(await api("POST", `/users/${user}/api-keys`, { name: "k", burst_size: 1.5 }), "burst_size");
    await badRequest(await api("POST", `/users/${user}/api-keys`, { name: "" }), "name");
  });

  it("queries: pagination bounds and flags", async () => {
    await badRequest(await api("GET", "/users?limit=0"), "limit");
    await badRequest(await api("GET", "/users?skip=-1"), "skip");
    await badRequest(await api("GET", "/users?limit=abc"), "limit");
    await badRequest(await api("GET", "/users?sort=name"), "sort");
    const ep = await endpoint();
    const model = await created<{ id: string }>(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep }));
    await badRequest(await api("GET", `/models/${model.id}/tariffs?include_history=yes`), "include_history");
  });

  it("endpoints: only http(s) URLs without credentials; header names must be tokens", async () => {
    for (const url of ["ftp://example.com/v1", "javascript:alert(1)", "file:///etc/passwd", "not a url", "http://user:pw@example.com/v1"]) {
      await badRequest(await api("POST", "/endpoints", { name: `ep-${suffix()}`, url }), "url");
    }
    await badRequest(await api("POST", "/endpoints", { name: `ep-${suffix()}`, url: mockBase(), auth_header_name: "Bad Header:" }), "auth_header_name");
    await badRequest(await api("POST", "/endpoints", { name: `ep-${suffix()}`, url: mockBase(), auth_header_prefix: "Bearer\r\nX-Evil: 1" }), "auth_header_prefix");
    const ep = await endpoint();
    await badRequest(await api("PATCH", `/endpoints/${ep}`, { url: "gopher://example.com" }), "url");
  });

  it("models: hosted_on must name an endpoint; metadata must be an object; tokenizer_url is http(s); responses_via_chat a boolean", async () => {
    await badRequest(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: MISSING }), "hosted_on");
    await badRequest(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: "nope" }), "hosted_on");
    const ep = await endpoint();
    await badRequest(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep, metadata: [1, 2] }), "metadata");
    await badRequest(await api("POST", "/models", { model_name: "m", alias: "has space", hosted_on: ep }), "alias");
    await badRequest(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep, tokenizer_url: "ftp://tok" }), "tokenizer_url");
    const model = await created<{ id: string; tokenizer_url: string | null }>(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep, tokenizer_url: "http://127.0.0.1:9/tok" }));
    expect(model.tokenizer_url).toBe("http://127.0.0.1:9/tok");
    await badRequest(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep, responses_via_chat: "yes" }), "responses_via_chat");
    await badRequest(await api("PATCH", `/models/${model.id}`, { responses_via_chat: null }), "responses_via_chat");
  });

  it("tariffs: decimal strings only, non-negative, one per purpose and window; a bad set changes nothing", async () => {
    const ep = await endpoint();
    const model = await created<{ id: string }>(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep }));
    const put = (body: unknown) => api("PUT", `/models/${model.id}/tariffs`, body);
    const good = { purpose: "realtime", input_price_per_token: "0.1", output_price_per_token: "0.2" };
    expect((await put([good])).status).toBe(200);

    await badRequest(await put([{ ...good, input_price_per_token: "-0.1" }]), "[0].input_price_per_token");
    await badRequest(await put([{ ...good, output_price_per_token: 0.2 }]), "[0].output_price_per_token");
    await badRequest(await put([{ ...good, input_price_per_token: "1e-6" }]), "[0].input_price_per_token");
    await badRequest(await put([good, { ...good, purpose: "platform" }]), "[1].purpose");
    await badRequest(await put([good, { ...good, input_price_per_token: "0.3" }]), "[1].completion_window");
    await badRequest(await put({ tariffs: [good] }), null);

    const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM model_tariffs WHERE deployed_model_id = $1", [model.id]);
    expect(rows[0]!.n).toBe(1);
  });
});

describe("conflicts and missing rows", () => {
  it("409 for a taken alias, username, email or endpoint name", async () => {
    const ep = await endpoint();
    const alias = `m-${suffix()}`;
    await created(await api("POST", "/models", { model_name: "m", alias, hosted_on: ep }));
    const clash = await api("POST", "/models", { model_name: "other", alias, hosted_on: ep });
    expect(clash.status).toBe(409);
    expect((await clash.json()) as unknown).toMatchObject({ error: { type: "invalid_request_error", param: "alias" } });

    const other = await created<{ id: string }>(await api("POST", "/models", { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep }));
    expect((await api("PATCH", `/models/${other.id}`, { alias })).status).toBe(409);

    const name = `u-${suffix()}`;
    await created(await api("POST", "/users", { username: name, email: `${name}@example.com` }));
    const dupName = await api("POST", "/users", { username: name, email: `other-${name}@example.com` });
    expect(dupName.status).toBe(409);
    expect(((await dupName.json()) as { error: { param: string } }).error.param).toBe("username");
    const dupEmail = await api("POST", "/users", { username: `other-${name}`, email: `${name}@example.com` });
    expect(((await dupEmail.json()) as { error: { param: string } }).error.param).toBe("email");

    const epName = `ep-${suffix()}`;
    await created(await api("POST", "/endpoints", { name: epName, url: mockBase() }));
    expect((await api("POST", "/endpoints", { name: epName, url: mockBase() })).status).toBe(409);
    // An endpoint still hosting models cannot be deleted from under them.
    expect((await api("DELETE", `/endpoints/${ep}`)).status).toBe(409);
  });

  it("404 for unknown and malformed ids on every {id} route", async () => {
    const user = await createUser(pool);
    for (const [method, path] of [
      ["GET", `/users/${MISSING}`],
      ["GET", "/users/not-a-uuid"],
      ["GET", `/users/${MISSING}/api-keys`],
      ["POST", `/users/${MISSING}/api-keys`],
      ["DELETE", `/users/${user}/api-keys/${MISSING}`],
      ["POST", `/users/${user}/api-keys/${MISSING}/rotate`],
      ["GET", `/endpoints/${MISSING}`],
      ["PATCH", `/endpoints/${MISSING}`],
      ["DELETE", `/endpoints/${MISSING}`],
      ["GET", `/models/${MISSING}`],
      ["PATCH", `/models/${MISSING}`],
      ["DELETE", `/models/${MISSING}`],
      ["GET", `/models/${MISSING}/tariffs`],
      ["PUT", `/models/${MISSING}/tariffs`],
    ] as const) {
      const body = method === "POST" && path.endsWith("api-keys") ? { name: "k" } : method === "PUT" ? [] : method === "PATCH" ? {} : undefined;
      const res = await api(method, path, body);
      await expectError(res, 404, "not_found");
    }
  });

  it("a deleted key cannot be deleted twice", async () => {
    const user = await createUser(pool);
    const key = await created<{ id: string }>(await api("POST", `/users/${user}/api-keys`, { name: "k" }));
    expect((await api("DELETE", `/users/${user}/api-keys/${key.id}`)).status).toBe(204);
    await expectError(await api("DELETE", `/users/${user}/api-keys/${key.id}`), 404, "not_found");
  });
});

describe("bounded free-form JSON (metadata) and ledger ids", () => {
  async function refused(res: Response, param: string): Promise<string> {
    const error = await expectError(res, 400, "invalid_request_error");
    expect(error.param).toBe(param);
    return error.message;
  }

  it("metadata nested beyond 32 levels or over 16 KiB is a 400 naming it; 100,000 levels is a 400, not a 500", async () => {
    const ep = await created<{ id: string }>(await api("POST", "/endpoints", { name: `ep-${suffix()}`, url: mockBase() }));
    // `depth` objects, one inside the other.
    const nested = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
    const body = (metadata: string) => `{"model_name":"m","alias":"m-${suffix()}","hosted_on":"${ep.id}","metadata":${metadata}}`;
    const fits = await created<{ id: string; metadata: unknown }>(await api("POST", "/models", body(nested(32))));
    expect(JSON.stringify(fits.metadata)).toBe(nested(32));
    for (const depth of [33, 10_000, 100_000]) {
      expect(await refused(await api("POST", "/models", body(nested(depth))), "metadata")).toMatch(/deeper than 32/);
    }
    expect(await refused(await api("POST", "/models", body(JSON.stringify({ blob: "x".repeat(17 * 1024) }))), "metadata")).toMatch(/16384 bytes/);
    expect(await refused(await api("PATCH", `/models/${fits.id}`, `{"metadata":${nested(500)}}`), "metadata")).toMatch(/deeper/);
    const { rows } = await pool.query("SELECT 1 FROM deployed_models WHERE hosted_on = $1", [ep.id]);
    expect(rows).toHaveLength(1);
  });

  it("a grant's source_id may not take a system namespace (usage:, admin:, …)", async () => {
    const user = await createUser(pool);
    for (const sourceId of [`usage:${crypto.randomUUID()}`, "admin:x", "USAGE:x", "batch:1", "system:1"]) {
      expect(await refused(await api("POST", "/transactions", { user_id: user, transaction_type: "admin_grant", amount: "1", source_id: sourceId }), "source_id")).toMatch(/system namespace/);
    }
    await created(await api("POST", "/transactions", { user_id: user, transaction_type: "admin_grant", amount: "1", source_id: "invoice-2026-12:usage" }));
    const { rows } = await pool.query<{ source_id: string }>("SELECT source_id FROM credits_transactions WHERE user_id = $1", [user]);
    expect(rows.map((r) => r.source_id)).toEqual(["admin:invoice-2026-12:usage"]);
  });
});
