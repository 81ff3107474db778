/**
 * The admin views of stored responses (`/admin/api/v1/batches/requests`), ported from the
 * reference's handler tests: auth, empty list, member_id for managers only, 404s, who sees what,
 * creator email, hard delete and the foreign-id 404 — plus tokens and cost joined from the
 * request's usage record, and bodies read back from R2.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { responseObjectKey, type ResponseMessage } from "../../../shared/response-message.ts";
import { writeResponseBatch } from "../../../workers/consumer/src/response-writer.ts";
import { writeUsageBatch } from "../../../workers/consumer/src/usage-writer.ts";
import { createKey, createModel, createUser } from "../../support/db-fixtures.ts";
import { sampleResponseMessage } from "../../support/samples.ts";
import { useTestPool } from "../test-pool.ts";
import { ok } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep, usageMessageFor } from "./helpers.ts";
import { responsesReceived } from "./test-main.ts";

const ADMIN_TOKEN = "test-admin-token-0123456789";

const pool = useTestPool();
function api(method: string, path: string, token: string | null): Promise<Response> {
  return SELF.fetch(`https://gateway.test/admin/api/v1/batches/requests${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
}

interface Page {
  data: { id: string; model: string; status: string; created_by_email: string | null; prompt_tokens: number | null; total_cost: string | null; batch_id: null }[];
  total_count: number;
  skip: number;
  limit: number;
}

/** A user with a platform key (for the admin API) and a realtime key (whose responses they own). */
async function member(roles: string[] = []): Promise<{ userId: string; email: string; platformKey: string; keyId: string }> {
  const userId = await createUser(pool);
  for (const role of roles) await pool.query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)", [userId, role]);
  const { rows } = await pool.query<{ email: string }>("SELECT email FROM users WHERE id = $1", [userId]);
  return { userId, email: rows[0]!.email, platformKey: (await createKey(pool, userId, "platform")).key, keyId: (await createKey(pool, userId)).id };
}

async function store(messages: ResponseMessage[]): Promise<void> {
  const client = await pool.connect();
  try {
    expect(await writeResponseBatch(client, messages)).toMatchObject({ stored: messages.length });
  } finally {
    client.release();
  }
}

async function rowCount(id: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM requests WHERE id = $1", [id]);
  return Number(rows[0]!.n);
}

describe("GET /admin/api/v1/batches/requests", () => {
  it("requires auth", async () => {
    await expectError(await api("GET", "", null), 401, "invalid_api_key");
  });

  it("is empty for a user with no stored responses", async () => {
    const user = await member();
    expect(await ok<Page>(await api("GET", "", user.platformKey))).toEqual({ data: [], total_count: 0, skip: 0, limit: 100 });
  });

  it("member_id is for managers only", async () => {
    const user = await member();
    const err = await expectError(await api("GET", `?member_id=${crypto.randomUUID()}`, user.platformKey), 400, "invalid_request_error");
    expect(err.param).toBe("member_id");
  });

  it("a standard user sees only their own; a manager sees everyone's and can filter by member", async () => {
    const manager = await member(["platform_manager"]);
    const a = await member();
    const b = await member();
    const model = `m-${crypto.randomUUID().slice(0, 8)}`;
    const mine = [sampleResponseMessage({ api_key_id: a.keyId, model }), sampleResponseMessage({ api_key_id: a.keyId, model, status: "incomplete" })];
    const theirs = sampleResponseMessage({ api_key_id: b.keyId, model });
    await store([...mine, theirs]);

    const own = await ok<Page>(await api("GET", `?model=${model}`, a.platformKey));
    expect(own.total_count).toBe(2);
    expect(own.data.map((r) => r.id).sort()).toEqual(mine.map((m) => m.id).sort());
    expect(own.data.every((r) => r.created_by_email === a.email && r.batch_id === null)).toBe(true);

    for (const token of [manager.platformKey, ADMIN_TOKEN]) {
      expect((await ok<Page>(await api("GET", `?model=${model}`, token))).total_count).toBe(3);
      const filtered = await ok<Page>(await api("GET", `?model=${model}&member_id=${b.userId}`, token));
      expect(filtered.data.map((r) => r.id)).toEqual([theirs.id]);
    }
    expect((await ok<Page>(await api("GET", `?model=${model}&status=incomplete`, ADMIN_TOKEN))).data.map((r) => r.id)).toEqual([mine[1]!.id]);
    const paged = await ok<Page>(await api("GET", `?model=${model}&limit=1&skip=1`, ADMIN_TOKEN));
    expect(paged).toMatchObject({ total_count: 3, skip: 1, limit: 1 });
    expect(paged.data).toHaveLength(1);
  });

  it("a manager in organization context sees only the organization's row (the reference's regression test)", async () => {
    const manager = await member(["platform_manager"]);
    const other = await member();
    const org = await createUser(pool);
    await pool.query("UPDATE users SET user_type = 'organization' WHERE id = $1", [org]);
    await pool.query("INSERT INTO user_organizations (user_id, organization_id, role) VALUES ($1, $2, 'owner')", [manager.userId, org]);
    const orgKey = (await createKey(pool, org)).id;
    const model = `m-${crypto.randomUUID().slice(0, 8)}`;
    const rows = [
      sampleResponseMessage({ api_key_id: manager.keyId, model }),
      sampleResponseMessage({ api_key_id: other.keyId, model }),
      sampleResponseMessage({ api_key_id: orgKey, model }),
    ];
    await store(rows);

    // Personal context: the manager sees every row.
    expect((await ok<Page>(await api("GET", `?model=${model}`, manager.platformKey))).total_count).toBe(3);
    // Organization context (header or cookie): only the organization's row.
    for (const headers of [{ "x-organization-id": org }, { cookie: `tollgate_org=${org}` }] as Record<string, string>[]) {
      const res = await SELF.fetch(`https://gateway.test/admin/api/v1/batches/requests?model=${model}`, { headers: { authorization: `Bearer ${manager.platformKey}`, ...headers } });
      const scoped = await ok<Page>(res);
      expect(scoped.total_count).toBe(1);
      expect(scoped.data.map((r) => r.id)).toEqual([rows[2]!.id]);
    }
  });

  it("shows the tokens and cost of the request's usage record", async () => {
    const user = await member();
    const { key } = await createKey(pool, user.userId);
    const model = await createModel(pool, { url: mockBase(), modelName: "mock-gpt" });
    const res = await post("/responses", { model: model.alias, input: "hi" }, key);
    const body = (await res.json()) as { id: string };
    const usage = await usageMessageFor(res);
    let message: ResponseMessage | undefined;
    for (let i = 0; i < 100 && !message; i++, await sleep(20)) message = responsesReceived.find((m) => m.id === body.id);
    const client = await pool.connect();
    try {
      await writeUsageBatch(client, [usage]);
      await writeResponseBatch(client, [message!]);
    } finally {
      client.release();
    }
    const page = await ok<Page>(await api("GET", `?model=${model.alias}`, user.platformKey));
    expect(page.data).toMatchObject([{ id: body.id, prompt_tokens: 12 }]);
  });
});

describe("GET /admin/api/v1/batches/requests/{id}", () => {
  it("404 for a missing id", async () => {
    const user = await member();
    await expectError(await api("GET", "/resp_missing", user.platformKey), 404, "not_found");
    await expectError(await api("GET", `/${crypto.randomUUID()}`, user.platformKey), 404, "not_found");
  });

  it("returns the response with its bodies and the creator's email; another user gets 404", async () => {
    const owner = await member();
    const other = await member();
    const message = sampleResponseMessage({ api_key_id: owner.keyId });
    await store([message]);
    const detail = await ok<Record<string, unknown>>(await api("GET", `/${message.id}`, owner.platformKey));
    expect(detail).toMatchObject({ id: message.id, created_by: owner.userId, created_by_email: owner.email, body: message.request_body, response_body: message.response_body, status: "completed" });
    await expectError(await api("GET", `/${message.id}`, other.platformKey), 404, "not_found");
    expect((await api("GET", `/${message.id}`, ADMIN_TOKEN)).status).toBe(200);
  });

  it("reads bodies kept in R2", async () => {
    const owner = await member();
    const id = `resp_r2${crypto.randomUUID().replace(/-/g, "")}`;
    const objectKey = responseObjectKey(id);
    await env.RESPONSES_BUCKET.put(objectKey, JSON.stringify({ request_body: '{"input":"big"}', response_body: `{"id":"${id}"}` }));
    await store([sampleResponseMessage({ id, api_key_id: owner.keyId, request_body: null, response_body: null, body_object_key: objectKey })]);
    expect(await ok<Record<string, unknown>>(await api("GET", `/${id}`, owner.platformKey))).toMatchObject({ body: '{"input":"big"}', response_body: `{"id":"${id}"}` });
  });
});

describe("DELETE /admin/api/v1/batches/requests/{id}", () => {
  it("removes the row (and its R2 object)", async () => {
    const owner = await member();
    const id = `resp_del${crypto.randomUUID().replace(/-/g, "")}`;
    const objectKey = responseObjectKey(id);
    await env.RESPONSES_BUCKET.put(objectKey, JSON.stringify({ request_body: null, response_body: "{}" }));
    await store([sampleResponseMessage({ id, api_key_id: owner.keyId, request_body: null, response_body: null, body_object_key: objectKey })]);
    const res = await api("DELETE", `/${id}`, owner.platformKey);
    expect(res.status).toBe(204);
    expect(await rowCount(id)).toBe(0);
    expect(await env.RESPONSES_BUCKET.head(objectKey)).toBeNull();
  });

  it("404 for another user's row, which remains", async () => {
    const owner = await member();
    const intruder = await member();
    const message = sampleResponseMessage({ api_key_id: owner.keyId });
    await store([message]);
    await expectError(await api("DELETE", `/${message.id}`, intruder.platformKey), 404, "not_found");
    expect(await rowCount(message.id)).toBe(1);
  });
});
