/**
 * Admin API, security: the role matrix (ADMIN_TOKEN and a manager's platform key do everything; a
 * standard user's platform key only their own user and keys; inference keys are refused at the
 * door), BOLA (another owner's id answers 404 exactly like a missing one), and secrets (no key
 * hash, key secret after creation, or upstream api_key in any response).
 */
import { env, SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKey, createModel, createUser } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api as adminApi, ok } from "./admin-helpers.ts";
import { expectError, mockBase, post } from "./helpers.ts";

const pool = useTestPool();
/** Every response body any test here received, checked for secrets at the end. */
const bodies: string[] = [];
const upstreamSecrets: string[] = [];

/** The admin client, keeping every body it received. */
async function api(method: string, path: string, token: string, body?: unknown): Promise<Response> {
  const res = await adminApi(method, path, token, body);
  const text = await res.text();
  bodies.push(text);
  return new Response(res.status === 204 ? null : text, { status: res.status, headers: res.headers });
}

const suffix = () => crypto.randomUUID().slice(0, 8);

interface Principal {
  id: string;
  /** A platform key for the admin API. */
  admin: string;
}

async function principal(roles: string[]): Promise<Principal> {
  const name = `u-${suffix()}`;
  const user = await ok<{ id: string }>(await api("POST", "/users", env.ADMIN_TOKEN, { username: name, email: `${name}@example.com`, roles }), 201);
  const key = await ok<{ key: string }>(await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "admin", purpose: "platform" }), 201);
  return { id: user.id, admin: key.key };
}

let manager: Principal;
let alice: Principal;
let bob: Principal;

beforeAll(async () => {
  // One after another: the embedded Postgres serves every connection in one session, so
  // concurrent transactions would interleave there.
  manager = await principal(["platform_manager"]);
  alice = await principal([]);
  bob = await principal(["billing_manager", "request_viewer"]);
});

afterAll(async () => {
  // No response ever carried a stored key hash, an upstream key or its ciphertext.
  const { rows: keys } = await pool.query<{ key_hash: string }>("SELECT key_hash FROM api_keys");
  const { rows: eps } = await pool.query<{ api_key_encrypted: string }>("SELECT api_key_encrypted FROM inference_endpoints WHERE api_key_encrypted IS NOT NULL");
  const all = bodies.join("\n");
  for (const { key_hash } of keys) expect(all).not.toContain(key_hash);
  for (const { api_key_encrypted } of eps) expect(all).not.toContain(api_key_encrypted);
  for (const secret of upstreamSecrets) expect(all).not.toContain(secret);
  expect(all).not.toContain("key_hash");
  expect(all).not.toContain("api_key_encrypted");
});

describe("role matrix", () => {
  it("the ADMIN_TOKEN and a manager's platform key manage everything", async () => {
    for (const token of [env.ADMIN_TOKEN, manager.admin]) {
      expect((await api("GET", "/users", token)).status).toBe(200);
      expect((await api("GET", `/users/${alice.id}`, token)).status).toBe(200);
      const name = `u-${suffix()}`;
      expect((await api("POST", "/users", token, { username: name, email: `${name}@example.com` })).status).toBe(201);
      const key = await ok<{ id: string }>(await api("POST", `/users/${alice.id}/api-keys`, token, { name: "by-manager", purpose: "platform" }), 201);
      expect((await api("GET", `/users/${alice.id}/api-keys`, token)).status).toBe(200);
      expect((await api("DELETE", `/users/${alice.id}/api-keys/${key.id}`, token)).status).toBe(204);

      const ep = await ok<{ id: string }>(await api("POST", "/endpoints", token, { name: `ep-${suffix()}`, url: mockBase() }), 201);
      expect((await api("PATCH", `/endpoints/${ep.id}`, token, { description: "x" })).status).toBe(200);
      const model = await ok<{ id: string }>(await api("POST", "/models", token, { model_name: "m", alias: `m-${suffix()}`, hosted_on: ep.id }), 201);
      expect((await api("PUT", `/models/${model.id}/tariffs`, token, [{ purpose: "realtime", input_price_per_token: "0", output_price_per_token: "0" }])).status).toBe(200);
      expect((await api("GET", `/models/${model.id}/tariffs`, token)).status).toBe(200);
      expect((await api("DELETE", `/models/${model.id}`, token)).status).toBe(204);
    }
    // The key acts as its owner, who holds the role.
    expect(await ok<{ id: string; roles: string[] }>(await api("GET", "/users/current", manager.admin))).toMatchObject({
      id: manager.id,
      roles: ["platform_manager", "standard_user"],
    });
  });

  it("a standard user's platform key reaches only its own user and keys", async () => {
    expect(await ok<{ id: string }>(await api("GET", "/users/current", alice.admin))).toMatchObject({ id: alice.id, roles: ["standard_user"] });
    expect((await api("GET", `/users/${alice.id}`, alice.admin)).status).toBe(200);
    const mine = await ok<{ id: string; key: string }>(await api("POST", `/users/${alice.id}/api-keys`, alice.admin, { name: "mine", purpose: "realtime" }), 201);
    expect((await ok<{ data: { id: string }[] }>(await api("GET", `/users/${alice.id}/api-keys`, alice.admin))).data.map((k) => k.id)).toContain(mine.id);
    // `current` names the caller's own user in key routes too.
    expect((await ok<{ data: { id: string }[] }>(await api("GET", "/users/current/api-keys", alice.admin))).data.map((k) => k.id)).toContain(mine.id);
    // The ADMIN_TOKEN's `current` is the built-in system user, who owns no keys.
    expect((await ok<{ data: unknown[] }>(await api("GET", "/users/current/api-keys", env.ADMIN_TOKEN))).data).toEqual([]);
    expect((await api("POST", `/users/${alice.id}/api-keys/${mine.id}/rotate`, alice.admin)).status).toBe(200);
    expect((await api("DELETE", `/users/${alice.id}/api-keys/${mine.id}`, alice.admin)).status).toBe(204);

    // Only managers hand out admin access.
    const platform = await expectError(await api("POST", `/users/${alice.id}/api-keys`, alice.admin, { name: "escalate", purpose: "platform" }), 403, "permission_denied");
    expect(platform.param).toBe("purpose");
    // Platform-wide routes are not theirs, whatever other non-manager roles they hold.
    for (const who of [alice, bob]) {
      if (who === alice) await expectError(await api("GET", "/users", who.admin), 403, "permission_denied");
      await expectError(await api("POST", "/users", who.admin, { username: `x-${suffix()}`, email: `x-${suffix()}@example.com` }), 403, "permission_denied");
      await expectError(await api("GET", "/endpoints", who.admin), 403, "permission_denied");
      await expectError(await api("POST", "/endpoints", who.admin, { name: `ep-${suffix()}`, url: mockBase() }), 403, "permission_denied");
      await expectError(await api("GET", "/models", who.admin), 403, "permission_denied");
      await expectError(await api("POST", "/models", who.admin, { model_name: "m", hosted_on: crypto.randomUUID() }), 403, "permission_denied");
    }
  });

  it("a platform key whose owner has no roles at all is a standard user, not a manager", async () => {
    const owner = await createUser(pool);
    const key = await createKey(pool, owner, "platform");
    expect(await ok<{ id: string; roles: string[] }>(await api("GET", "/users/current", key.key))).toMatchObject({ id: owner, roles: ["standard_user"] });
    await expectError(await api("GET", "/users", key.key), 403, "permission_denied");
    await expectError(await api("GET", `/users/${alice.id}`, key.key), 404, "not_found");
  });

  it("inference keys are refused at the door; a deleted owner's key opens nothing", async () => {
    const inference = await ok<{ key: string }>(await api("POST", `/users/${alice.id}/api-keys`, env.ADMIN_TOKEN, { name: "infer" }), 201);
    await expectError(await api("GET", "/users/current", inference.key), 403, "permission_denied");
    await expectError(await api("GET", `/users/${alice.id}/api-keys`, inference.key), 403, "permission_denied");

    const gone = await principal([]);
    await pool.query("UPDATE users SET deleted_at = now() WHERE id = $1", [gone.id]);
    await expectError(await api("GET", "/users/current", gone.admin), 401, "invalid_api_key");
  });
});

/** An admin call in organization context (X-Organization-Id). */
async function inOrg(orgId: string, method: string, path: string, token: string, body?: unknown): Promise<Response> {
  return SELF.fetch(`https://gateway.test/admin/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "x-organization-id": orgId, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe("keys that choose a price or take over another's key", () => {
  it("only platform managers create batch keys (their batch headers choose the tariff)", async () => {
    for (const who of [alice, bob]) {
      const refused = await expectError(await api("POST", `/users/${who.id}/api-keys`, who.admin, { name: "cheap", purpose: "batch" }), 403, "permission_denied");
      expect(refused.param).toBe("purpose");
    }
    const { rows } = await pool.query("SELECT 1 FROM api_keys WHERE user_id = ANY($1::uuid[]) AND purpose = 'batch'", [[alice.id, bob.id]]);
    expect(rows).toEqual([]);
    for (const token of [env.ADMIN_TOKEN, manager.admin]) {
      expect(await ok<{ purpose: string }>(await api("POST", `/users/${alice.id}/api-keys`, token, { name: "runner", purpose: "batch" }), 201)).toMatchObject({ purpose: "batch" });
    }
  });

  it("an organization key is rotated or deleted only by its creator, the org's owners and admins, or a manager", async () => {
    const owner = await principal([]);
    const member = await principal([]);
    const admin = await principal([]);
    const org = await ok<{ id: string }>(await api("POST", "/organizations", owner.admin, { name: `org-${suffix()}`, email: `org-${suffix()}@example.com` }), 201);
    await ok(await api("POST", `/organizations/${org.id}/members`, owner.admin, { user_id: member.id }), 201);
    await ok(await api("POST", `/organizations/${org.id}/members`, owner.admin, { user_id: admin.id, role: "admin" }), 201);
    const ownersKey = async () => ok<{ id: string; key: string }>(await inOrg(org.id, "POST", "/users/current/api-keys", owner.admin, { name: "owner's" }), 201);
    const membersKey = await ok<{ id: string; key: string }>(await inOrg(org.id, "POST", "/users/current/api-keys", member.admin, { name: "member's" }), 201);

    // A member cannot take over (rotate) or remove a key someone else created: 404, as if missing.
    const target = await ownersKey();
    for (const path of [`/users/${org.id}/api-keys/${target.id}/rotate`, "/users/current/api-keys/" + target.id + "/rotate"]) {
      await expectError(await inOrg(org.id, "POST", path, member.admin), 404, "not_found");
    }
    await expectError(await inOrg(org.id, "DELETE", `/users/${org.id}/api-keys/${target.id}`, member.admin), 404, "not_found");
    const model = await createModel(pool, { url: mockBase() });
    expect((await post("/chat/completions", { model: model.alias, messages: [] }, target.key)).status).toBe(200);
    const { rows } = await pool.query<{ is_deleted: boolean }>("SELECT is_deleted FROM api_keys WHERE id = $1", [target.id]);
    expect(rows).toEqual([{ is_deleted: false }]);

    // Their own key, yes.
    expect((await inOrg(org.id, "POST", `/users/${org.id}/api-keys/${membersKey.id}/rotate`, member.admin)).status).toBe(200);
    // Owners, admins and managers: any of the organization's keys.
    expect((await inOrg(org.id, "POST", `/users/${org.id}/api-keys/${membersKey.id}/rotate`, admin.admin)).status).toBe(200);
    expect((await inOrg(org.id, "POST", `/users/${org.id}/api-keys/${membersKey.id}/rotate`, owner.admin)).status).toBe(200);
    expect((await api("POST", `/users/${org.id}/api-keys/${target.id}/rotate`, manager.admin)).status).toBe(200);
    expect((await inOrg(org.id, "DELETE", `/users/${org.id}/api-keys/${target.id}`, admin.admin)).status).toBe(204);
    expect((await inOrg(org.id, "DELETE", `/users/${org.id}/api-keys/${membersKey.id}`, member.admin)).status).toBe(204);
    const another = await ownersKey();
    expect((await api("DELETE", `/users/${org.id}/api-keys/${another.id}`, manager.admin)).status).toBe(204);
  });
});

describe("BOLA: another owner's ids answer 404, like missing ones", () => {
  it("every {id} route a standard user can reach", async () => {
    const bobsKey = await ok<{ id: string; key: string }>(await api("POST", `/users/${bob.id}/api-keys`, env.ADMIN_TOKEN, { name: "bobs" }), 201);
    const missing = crypto.randomUUID();
    const probes: [string, string, unknown?][] = [
      ["GET", `/users/${bob.id}`],
      ["GET", `/users/${bob.id}/api-keys`],
      ["POST", `/users/${bob.id}/api-keys`, { name: "planted" }],
      ["DELETE", `/users/${bob.id}/api-keys/${bobsKey.id}`],
      ["POST", `/users/${bob.id}/api-keys/${bobsKey.id}/rotate`],
      // Bob's key under Alice's own user id: still not hers.
      ["DELETE", `/users/${alice.id}/api-keys/${bobsKey.id}`],
      ["POST", `/users/${alice.id}/api-keys/${bobsKey.id}/rotate`],
    ];
    for (const [method, path, body] of probes) {
      const foreign = await expectError(await api(method, path, alice.admin, body), 404, "not_found");
      // The same answer as an id that does not exist at all.
      const absent = await expectError(await api(method, path.replaceAll(bob.id, missing).replaceAll(bobsKey.id, missing), alice.admin, body), 404, "not_found");
      expect(foreign.message.replaceAll(bob.id, missing).replaceAll(bobsKey.id, missing)).toBe(absent.message);
    }

    // Nothing happened to Bob: his key is listed, unrotated, and still works.
    const { data } = await ok<{ data: { id: string; name: string }[] }>(await api("GET", `/users/${bob.id}/api-keys`, env.ADMIN_TOKEN));
    expect(data.map((k) => k.name)).toEqual(["bobs", "admin"]);
    const model = await createModel(pool, { url: mockBase() });
    expect((await post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, bobsKey.key)).status).toBe(200);
  });
});

describe("secrets in responses", () => {
  it("key secrets appear only in the creation and rotation responses; upstream keys never", async () => {
    const created = await ok<{ id: string; key: string }>(await api("POST", `/users/${alice.id}/api-keys`, alice.admin, { name: "once" }), 201);
    const listed = await (await api("GET", `/users/${alice.id}/api-keys`, alice.admin)).text();
    expect(listed).not.toContain(created.key);
    const me = await (await api("GET", "/users/current", alice.admin)).text();
    expect(me).not.toContain(created.key);

    const upstreamKey = `sk-live-${suffix()}`;
    upstreamSecrets.push(upstreamKey);
    const ep = await ok<Record<string, unknown>>(await api("POST", "/endpoints", env.ADMIN_TOKEN, { name: `ep-${suffix()}`, url: mockBase(), api_key: upstreamKey }), 201);
    expect(Object.keys(ep)).not.toContain("api_key");
    const rotatedUpstream = `sk-live-${suffix()}`;
    upstreamSecrets.push(rotatedUpstream);
    const patched = await ok<Record<string, unknown>>(await api("PATCH", `/endpoints/${String(ep.id)}`, env.ADMIN_TOKEN, { api_key: rotatedUpstream }));
    expect(patched.has_api_key).toBe(true);
    expect(Object.keys(patched)).not.toContain("api_key");
    await api("GET", `/endpoints/${String(ep.id)}`, env.ADMIN_TOKEN);
    await api("GET", "/endpoints?limit=1000", env.ADMIN_TOKEN);
  });
});
