/**
 * Admin API, organizations: membership roles (owner, admin, member) decide who manages what, an
 * organization always keeps an owner, outsiders get 404; organization context (`X-Organization-Id`
 * or the `tollgate_org` cookie) makes `current` the organization and scopes lists to it — for
 * managers too; deleting an organization locks its keys out of the gateway.
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createModel } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api, ok, principal, type Principal } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep } from "./helpers.ts";

const pool = useTestPool();
const TTL_MS = Number(env.ACCESS_CACHE_TTL_MS);
const suffix = () => crypto.randomUUID().slice(0, 8);

interface Org {
  id: string;
  username: string;
  user_type: string;
  your_role: string | null;
  member_count: number;
  balance: string;
}
interface Member {
  user_id: string;
  role: string;
}
interface Page<T> {
  data: T[];
  total_count: number;
}


/** An admin call in organization context. */
function inOrg(orgId: string, method: string, path: string, token: string, body?: unknown): Promise<Response> {
  return SELF.fetch(`https://gateway.test/admin/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "x-organization-id": orgId, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function newOrg(owner: Principal): Promise<Org> {
  const name = `org-${suffix()}`;
  return ok<Org>(await api("POST", "/organizations", owner.admin, { name, email: `${name}@example.com` }), 201);
}

let manager: Principal;
let alice: Principal;
let bob: Principal;
let carol: Principal;

beforeAll(async () => {
  manager = await principal(["platform_manager"]);
  alice = await principal();
  bob = await principal();
  carol = await principal();
});

describe("membership", () => {
  it("the creator owns it; members see it; outsiders get 404", async () => {
    const org = await newOrg(alice);
    expect(org).toMatchObject({ user_type: "organization", your_role: "owner", member_count: 1 });
    expect((await ok<Page<Org>>(await api("GET", "/organizations", alice.admin))).data.map((o) => o.id)).toContain(org.id);
    await expectError(await api("GET", `/organizations/${org.id}`, bob.admin), 404, "not_found");
    expect((await ok<Page<Org>>(await api("GET", "/organizations", bob.admin))).data.map((o) => o.id)).not.toContain(org.id);
    // Managers see every organization, without a role in it.
    expect((await ok<Org>(await api("GET", `/organizations/${org.id}`, manager.admin))).your_role).toBeNull();

    await ok(await api("POST", `/organizations/${org.id}/members`, alice.admin, { user_id: bob.id }), 201);
    expect((await ok<Org>(await api("GET", `/organizations/${org.id}`, bob.admin))).your_role).toBe("member");
    const members = await ok<Page<Member>>(await api("GET", `/organizations/${org.id}/members`, bob.admin));
    expect(members.data.map((m) => [m.user_id, m.role])).toEqual([
      [alice.id, "owner"],
      [bob.id, "member"],
    ]);
  });

  it("members cannot manage; admins add members but not owners; owners change roles", async () => {
    const org = await newOrg(alice);
    await ok(await api("POST", `/organizations/${org.id}/members`, alice.admin, { user_id: bob.id }), 201);
    await expectError(await api("POST", `/organizations/${org.id}/members`, bob.admin, { user_id: carol.id }), 403, "permission_denied");
    await expectError(await api("PATCH", `/organizations/${org.id}/members/${bob.id}`, bob.admin, { role: "owner" }), 403, "permission_denied");

    expect(await ok<Member>(await api("PATCH", `/organizations/${org.id}/members/${bob.id}`, alice.admin, { role: "admin" }))).toMatchObject({ role: "admin" });
    await ok(await api("POST", `/organizations/${org.id}/members`, bob.admin, { user_id: carol.id }), 201);
    await expectError(await api("POST", `/organizations/${org.id}/members`, bob.admin, { user_id: manager.id, role: "owner" }), 403, "permission_denied");
    await expectError(await api("POST", `/organizations/${org.id}/members`, alice.admin, { user_id: carol.id }), 409, "conflict");
    // An admin removes a member; a member leaves on their own.
    expect((await api("DELETE", `/organizations/${org.id}/members/${carol.id}`, bob.admin)).status).toBe(204);
    await ok(await api("POST", `/organizations/${org.id}/members`, alice.admin, { user_id: carol.id }), 201);
    expect((await api("DELETE", `/organizations/${org.id}/members/${carol.id}`, carol.admin)).status).toBe(204);
    await expectError(await api("PATCH", `/organizations/${org.id}`, carol.admin, { display_name: "x" }), 404, "not_found");
  });

  it("always keeps an owner", async () => {
    const org = await newOrg(alice);
    await expectError(await api("DELETE", `/organizations/${org.id}/members/${alice.id}`, alice.admin), 409, "conflict");
    await expectError(await api("PATCH", `/organizations/${org.id}/members/${alice.id}`, alice.admin, { role: "member" }), 409, "conflict");
    await ok(await api("POST", `/organizations/${org.id}/members`, alice.admin, { user_id: bob.id, role: "owner" }), 201);
    expect((await api("DELETE", `/organizations/${org.id}/members/${alice.id}`, alice.admin)).status).toBe(204);
    expect((await ok<Page<Member>>(await api("GET", `/organizations/${org.id}/members`, bob.admin))).data).toEqual([expect.objectContaining({ user_id: bob.id, role: "owner" })]);
  });

  it("bad input names the field; the admin token must name an owner", async () => {
    const bad = await expectError(await api("POST", "/organizations", alice.admin, { name: "has space", email: "x@example.com" }), 400, "invalid_request_error");
    expect(bad.param).toBe("name");
    const noOwner = await expectError(await api("POST", "/organizations", env.ADMIN_TOKEN, { name: `o-${suffix()}`, email: `o-${suffix()}@example.com` }), 400, "invalid_request_error");
    expect(noOwner.param).toBe("owner_id");
    await expectError(await api("POST", "/organizations", alice.admin, { name: `o-${suffix()}`, email: `o-${suffix()}@example.com`, owner_id: bob.id }), 403, "permission_denied");
    const made = await ok<Org>(await api("POST", "/organizations", env.ADMIN_TOKEN, { name: `o-${suffix()}`, email: `o-${suffix()}@example.com`, owner_id: carol.id }), 201);
    expect((await ok<Org>(await api("GET", `/organizations/${made.id}`, carol.admin))).your_role).toBe("owner");
  });
});

describe("organization context", () => {
  it("members act for the organization: `current` keys belong to it and work at the gateway", async () => {
    const org = await newOrg(alice);
    await ok(await api("POST", `/organizations/${org.id}/members`, alice.admin, { user_id: bob.id }), 201);
    const key = await ok<{ key: string; user_id: string; created_by: string }>(await inOrg(org.id, "POST", "/users/current/api-keys", bob.admin, { name: "team key" }), 201);
    expect(key).toMatchObject({ user_id: org.id, created_by: bob.id });
    const listed = await ok<Page<{ user_id: string }>>(await inOrg(org.id, "GET", "/users/current/api-keys", alice.admin));
    expect(listed.data.map((k) => k.user_id)).toEqual([org.id]);
    // Without the context, `current` is the person again.
    expect((await ok<Page<{ user_id: string }>>(await api("GET", "/users/current/api-keys", bob.admin))).data.every((k) => k.user_id === bob.id)).toBe(true);

    const model = await createModel(pool, { url: mockBase() });
    expect((await post("/chat/completions", { model: model.alias, messages: [] }, key.key)).status).toBe(200);
  });

  it("scopes lists to the organization, for managers too; the cookie works like the header", async () => {
    const org = await newOrg(alice);
    await ok(await api("POST", "/transactions", manager.admin, { user_id: org.id, transaction_type: "admin_grant", amount: "7" }), 201);
    await ok(await api("POST", "/transactions", manager.admin, { user_id: alice.id, transaction_type: "admin_grant", amount: "3" }), 201);

    const everyone = await ok<Page<{ user_id: string }>>(await api("GET", "/transactions?limit=1000", manager.admin));
    expect(new Set(everyone.data.map((t) => t.user_id)).size).toBeGreaterThan(1);
    const scoped = await ok<Page<{ user_id: string; amount: string }>>(await inOrg(org.id, "GET", "/transactions", manager.admin));
    expect(scoped.data.map((t) => [t.user_id, t.amount])).toEqual([[org.id, "7"]]);
    // Asking for someone else's rows inside the context is a 404, not a leak.
    await expectError(await inOrg(org.id, "GET", `/transactions?user_id=${alice.id}`, manager.admin), 404, "not_found");
    // A member (not a credit manager) sees the organization's ledger in its context, their own outside it.
    const asOwner = await ok<Page<{ user_id: string }>>(await inOrg(org.id, "GET", "/transactions", alice.admin));
    expect(asOwner.data.map((t) => t.user_id)).toEqual([org.id]);
    const byCookie = await SELF.fetch("https://gateway.test/admin/api/v1/organizations", { headers: { authorization: `Bearer ${manager.admin}`, cookie: `tollgate_org=${org.id}` } });
    expect((await ok<Page<Org>>(byCookie)).data.map((o) => o.id)).toEqual([org.id]);
    expect((await ok<Org>(await api("GET", `/users/${org.id}`, manager.admin))).balance).toBe("7");
  });

  it("an organization you are not in is 404; a malformed id is 400", async () => {
    const org = await newOrg(alice);
    await expectError(await inOrg(org.id, "GET", "/users/current/api-keys", carol.admin), 404, "not_found");
    await expectError(await inOrg(crypto.randomUUID(), "GET", "/transactions", manager.admin), 404, "not_found");
    await expectError(await inOrg(alice.id, "GET", "/transactions", manager.admin), 404, "not_found"); // a person, not an organization
    expect((await expectError(await inOrg("nope", "GET", "/transactions", alice.admin), 400, "invalid_request_error")).param).toBe("X-Organization-Id");
  });
});

describe("deletion", () => {
  it("only owners delete; the organization's keys are then refused by the gateway", async () => {
    const org = await newOrg(alice);
    await ok(await api("POST", `/organizations/${org.id}/members`, alice.admin, { user_id: bob.id, role: "admin" }), 201);
    const key = await ok<{ key: string }>(await inOrg(org.id, "POST", "/users/current/api-keys", bob.admin, { name: "team key" }), 201);
    const model = await createModel(pool, { url: mockBase() });
    expect((await post("/chat/completions", { model: model.alias, messages: [] }, key.key)).status).toBe(200);

    await expectError(await api("DELETE", `/organizations/${org.id}`, bob.admin), 403, "permission_denied");
    expect((await api("DELETE", `/organizations/${org.id}`, alice.admin)).status).toBe(204);
    await expectError(await api("GET", `/organizations/${org.id}`, alice.admin), 404, "not_found");
    await sleep(TTL_MS + 50);
    await expectError(await post("/chat/completions", { model: model.alias, messages: [] }, key.key), 401, "invalid_api_key");
  });
});
