/**
 * Admin API, credits and prompt-cache pricing: grants and removals move the balance the gateway's
 * 402 gate reads (measured: how long after the commit the gate follows), a caller's source_id makes
 * a grant idempotent even when sent concurrently, roles and ownership decide who may grant and who
 * sees which rows; cache pricing is versioned history and switches the gateway's caching on and off.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createKey, createModel, createTariff } from "../../support/db-fixtures.ts";
import { useTestPool } from "../test-pool.ts";
import { api, ok, principal, type Principal } from "./admin-helpers.ts";
import { expectError, mockBase, post, sleep } from "./helpers.ts";

const pool = useTestPool();
const TTL_MS = Number(env.ACCESS_CACHE_TTL_MS);
const suffix = () => crypto.randomUUID().slice(0, 8);

interface Transaction {
  id: string;
  user_id: string;
  transaction_type: string;
  amount: string;
  source_id: string;
  description: string | null;
  created_by: string | null;
  created_at: string;
  balance?: string;
}
interface Page<T> {
  data: T[];
  total_count: number;
}


async function ledgerRows(userId: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM credits_transactions WHERE user_id = $1", [userId]);
  return rows[0]!.n;
}

let billing: Principal;
let viewer: Principal;
let alice: Principal;

beforeAll(async () => {
  billing = await principal(["billing_manager"]);
  viewer = await principal(["request_viewer"]);
  alice = await principal([]);
});

describe("POST /transactions", () => {
  it("grants and removals move the balance exactly; the ledger records who did it", async () => {
    const grant = await ok<Transaction>(
      await api("POST", "/transactions", billing.admin, { user_id: alice.id, transaction_type: "admin_grant", amount: "10.10", description: "welcome" }),
      201,
    );
    expect(grant).toMatchObject({ user_id: alice.id, transaction_type: "admin_grant", amount: "10.1", description: "welcome", created_by: billing.id, balance: "10.1" });
    expect(grant.source_id).toMatch(/^admin:[0-9a-f-]{36}$/);
    const removal = await ok<Transaction>(await api("POST", "/transactions", env.ADMIN_TOKEN, { user_id: alice.id, transaction_type: "admin_removal", amount: "0.000000001" }), 201);
    // The ADMIN_TOKEN acts as the built-in system user.
    expect(removal).toMatchObject({ created_by: "00000000-0000-0000-0000-000000000000", balance: "10.099999999" });
    expect((await ok<{ balance: string }>(await api("GET", `/users/${alice.id}`, env.ADMIN_TOKEN))).balance).toBe("10.099999999");
    // The checkpoint the gateway reads agrees with the ledger.
    const { rows } = await pool.query<{ balance: string }>("SELECT balance::text FROM user_balance_checkpoints WHERE user_id = $1", [alice.id]);
    expect(rows[0]!.balance).toBe("10.099999999");
  });

  it("a repeated source_id is a no-op answering the original row, even sent ten times at once", async () => {
    const user = await principal([]);
    const body = { user_id: user.id, transaction_type: "admin_grant", amount: "5", source_id: `invoice-${suffix()}` };
    const responses = await Promise.all(Array.from({ length: 10 }, () => api("POST", "/transactions", billing.admin, body)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const answers = await Promise.all(responses.map((r) => r.json() as Promise<Transaction>));
    expect(new Set(answers.map((a) => a.id)).size).toBe(1);
    expect(answers.every((a) => a.source_id === `admin:${body.source_id}` && a.balance === "5")).toBe(true);
    expect(await ledgerRows(user.id)).toBe(1);

    // The same id for a different grant is refused, and changes nothing.
    const clash = await api("POST", "/transactions", billing.admin, { ...body, amount: "6" });
    expect((await expectError(clash, 409, "conflict")).param).toBe("source_id");
    expect((await ok<{ balance: string }>(await api("GET", `/users/${user.id}`, env.ADMIN_TOKEN))).balance).toBe("5");
  });

  it("bad input names the field; an unknown user is 404", async () => {
    const base = { user_id: alice.id, transaction_type: "admin_grant", amount: "1" };
    for (const [patch, param] of [
      [{ amount: "0" }, "amount"],
      [{ amount: "-1" }, "amount"],
      [{ amount: "1e3" }, "amount"],
      [{ amount: 1 }, "amount"],
      [{ transaction_type: "usage" }, "transaction_type"],
      [{ user_id: "nope" }, "user_id"],
      [{ source_id: "has space" }, "source_id"],
      [{ colour: "blue" }, "colour"],
    ] as const) {
      const err = await expectError(await api("POST", "/transactions", billing.admin, { ...base, ...patch }), 400, "invalid_request_error");
      expect(err.param).toBe(param);
    }
    await expectError(await api("POST", "/transactions", billing.admin, { ...base, user_id: crypto.randomUUID() }), 404, "not_found");
  });

  it("only platform and billing managers may grant", async () => {
    for (const who of [alice, viewer]) {
      await expectError(await api("POST", "/transactions", who.admin, { user_id: who.id, transaction_type: "admin_grant", amount: "100" }), 403, "permission_denied");
    }
    expect(await ledgerRows(viewer.id)).toBe(0);
  });
});

describe("billing managers find the accounts they credit", () => {
  it("lists and reads every user, read-only; a standard user or request viewer cannot list", async () => {
    const page = await ok<Page<{ id: string; balance: string }>>(await api("GET", "/users?limit=500", billing.admin));
    expect(page.data.map((u) => u.id)).toEqual(expect.arrayContaining([alice.id, viewer.id, billing.id]));
    expect(page.data.every((u) => typeof u.balance === "string")).toBe(true);
    expect((await ok<{ id: string }>(await api("GET", `/users/${alice.id}`, billing.admin))).id).toBe(alice.id);
    // Reading is all: no creating, editing, deleting users or handing out links.
    await expectError(await api("POST", "/users", billing.admin, { username: `x-${suffix()}`, email: `x-${suffix()}@example.com` }), 403, "permission_denied");
    await expectError(await api("PATCH", `/users/${alice.id}`, billing.admin, { display_name: "renamed" }), 404, "not_found");
    await expectError(await api("DELETE", `/users/${alice.id}`, billing.admin), 403, "permission_denied");
    await expectError(await api("POST", `/users/${alice.id}/password-link`, billing.admin), 403, "permission_denied");
    for (const who of [alice, viewer]) {
      await expectError(await api("GET", "/users", who.admin), 403, "permission_denied");
      await expectError(await api("GET", `/users/${billing.id}`, who.admin), 404, "not_found");
    }
  });
});

describe("GET /transactions", () => {
  it("managers filter anyone's ledger, newest first, paginated", async () => {
    const user = await principal([]);
    for (const amount of ["1", "2", "3"]) {
      await ok(await api("POST", "/transactions", billing.admin, { user_id: user.id, transaction_type: "admin_grant", amount }), 201);
    }
    await ok(await api("POST", "/transactions", billing.admin, { user_id: user.id, transaction_type: "admin_removal", amount: "0.5" }), 201);
    const all = await ok<Page<Transaction>>(await api("GET", `/transactions?user_id=${user.id}`, billing.admin));
    expect(all.total_count).toBe(4);
    expect(all.data.map((t) => t.amount)).toEqual(["0.5", "3", "2", "1"]);
    const grants = await ok<Page<Transaction>>(await api("GET", `/transactions?user_id=${user.id}&transaction_type=admin_grant&skip=1&limit=1`, env.ADMIN_TOKEN));
    expect(grants).toMatchObject({ total_count: 3, skip: 1, limit: 1 });
    expect(grants.data.map((t) => t.amount)).toEqual(["2"]);
    const future = await ok<Page<Transaction>>(await api("GET", `/transactions?user_id=${user.id}&created_after=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, billing.admin));
    expect(future.total_count).toBe(0);
    await expectError(await api("GET", "/transactions?created_after=yesterday", billing.admin), 400, "invalid_request_error");
  });

  it("anyone else sees only their own rows; another user's id is 404", async () => {
    const mine = await ok<Page<Transaction>>(await api("GET", "/transactions", alice.admin));
    expect(mine.total_count).toBeGreaterThan(0);
    expect(mine.data.every((t) => t.user_id === alice.id)).toBe(true);
    await expectError(await api("GET", `/transactions?user_id=${billing.id}`, alice.admin), 404, "not_found");
    const viewerOwn = await ok<Page<Transaction>>(await api("GET", "/transactions", viewer.admin));
    expect(viewerOwn.total_count).toBe(0);
  });
});

describe("the gateway's 402 gate follows the ledger", () => {
  it("a removal to zero is refused within the cache TTL; a grant serves again within it", async () => {
    const customer = await principal([]);
    const { key } = await createKey(pool, customer.id);
    const model = await createModel(pool, { url: mockBase() });
    await createTariff(pool, model.modelId, { purpose: "realtime", input: "0.001", output: "0.002" });
    const chat = () => post("/chat/completions", { model: model.alias, messages: [{ role: "user", content: "hi" }] }, key);
    await ok(await api("POST", "/transactions", billing.admin, { user_id: customer.id, transaction_type: "admin_grant", amount: "1" }), 201);
    expect((await chat()).status).toBe(200);

    const until = async (status: number) => {
      const started = Date.now();
      for (;;) {
        const res = await chat();
        await res.body?.cancel();
        if (res.status === status) return Date.now() - started;
        if (Date.now() - started > TTL_MS + 2000) throw new Error(`still ${res.status} ${Date.now() - started} ms after the change`);
        await sleep(20);
      }
    };
    await ok(await api("POST", "/transactions", billing.admin, { user_id: customer.id, transaction_type: "admin_removal", amount: "1" }), 201);
    const toRefused = await until(402);
    await ok(await api("POST", "/transactions", billing.admin, { user_id: customer.id, transaction_type: "admin_grant", amount: "0.5" }), 201);
    const toServed = await until(200);
    console.log(`402 gate: refused ${toRefused} ms after the removal committed, served ${toServed} ms after the grant (TTL ${TTL_MS} ms)`);
    // Data is at most one TTL old (refreshed ahead under traffic), plus one request's time.
    expect(toRefused).toBeLessThanOrEqual(TTL_MS + 1000);
    expect(toServed).toBeLessThanOrEqual(TTL_MS + 1000);
  });
});

interface CachePricing {
  id: string;
  read_multiplier: string;
  write_multiplier_5m: string | null;
  write_multiplier_1h: string | null;
  write_multiplier_24h: string | null;
  min_prefix_tokens: number;
  valid_from: string;
  valid_until: string | null;
}
interface CacheState {
  active: CachePricing | null;
  history: CachePricing[];
}

describe("/models/{id}/cache-pricing", () => {
  it("PUT opens a row, an unchanged PUT keeps it, a change closes it where the new one starts, DELETE closes it", async () => {
    const model = await createModel(pool, { url: mockBase() });
    const path = `/models/${model.modelId}/cache-pricing`;
    expect(await ok<CacheState>(await api("GET", path, env.ADMIN_TOKEN))).toEqual({ active: null, history: [] });

    const v1 = await ok<CacheState>(await api("PUT", path, env.ADMIN_TOKEN, { read_multiplier: "0.1", write_multiplier_5m: "1.25", min_prefix_tokens: 200 }));
    expect(v1.active).toMatchObject({ read_multiplier: "0.1", write_multiplier_5m: "1.25", write_multiplier_1h: null, write_multiplier_24h: null, min_prefix_tokens: 200, valid_until: null });
    const same = await ok<CacheState>(await api("PUT", path, env.ADMIN_TOKEN, { read_multiplier: "0.10", write_multiplier_5m: "1.250", min_prefix_tokens: 200 }));
    expect(same).toEqual(v1);

    const v2 = await ok<CacheState>(await api("PUT", path, env.ADMIN_TOKEN, { read_multiplier: "0.2", write_multiplier_5m: "1.25", write_multiplier_1h: "2" }));
    expect(v2.active).toMatchObject({ read_multiplier: "0.2", write_multiplier_1h: "2", min_prefix_tokens: 1024 });
    expect(v2.history).toHaveLength(1);
    expect(v2.history[0]).toMatchObject({ id: v1.active!.id, read_multiplier: "0.1", valid_from: v1.active!.valid_from, valid_until: v2.active!.valid_from });

    const del = await api("DELETE", path, env.ADMIN_TOKEN);
    expect(del.status).toBe(204);
    const after = await ok<CacheState>(await api("GET", path, env.ADMIN_TOKEN));
    expect(after.active).toBeNull();
    expect(after.history.map((r) => r.read_multiplier)).toEqual(["0.2", "0.1"]);
  });

  it("turns the gateway's caching on and off", async () => {
    const customer = await principal([]);
    const { key } = await createKey(pool, customer.id);
    const model = await createModel(pool, { url: mockBase(), modelName: "mock+count" });
    const path = `/models/${model.modelId}/cache-pricing`;
    const system = "You are a careful assistant. ".repeat(60);
    let n = 0;
    const chat = async () => {
      const res = await post("/chat/completions", { model: model.alias, messages: [{ role: "system", content: [{ type: "text", text: system, cache_control: { type: "ephemeral" } }] }, { role: "user", content: `q${n++}` }] }, key);
      const body = await ok<{ usage: { cache_creation_input_tokens?: number; cache_read_input_tokens?: number } }>(res);
      return body.usage;
    };
    // No cache tariff: no cache accounting at all.
    expect((await chat()).cache_creation_input_tokens).toBeUndefined();

    await ok(await api("PUT", path, env.ADMIN_TOKEN, { read_multiplier: "0.1", write_multiplier_5m: "1.25", min_prefix_tokens: 50 }));
    await sleep(TTL_MS + 50);
    const first = await chat();
    expect(first.cache_creation_input_tokens).toBeGreaterThan(50);
    // The index write lands off the response path; then the same prefix is a read.
    let read = 0;
    for (let i = 0; i < 40 && read === 0; i++) {
      await sleep(50);
      read = (await chat()).cache_read_input_tokens ?? 0;
    }
    expect(read).toBe(first.cache_creation_input_tokens);

    expect((await api("DELETE", path, env.ADMIN_TOKEN)).status).toBe(204);
    await sleep(TTL_MS + 50);
    expect((await chat()).cache_read_input_tokens).toBeUndefined();
  });

  it("managers only; bad multipliers name the field; another model id is 404", async () => {
    const model = await createModel(pool, { url: mockBase() });
    const path = `/models/${model.modelId}/cache-pricing`;
    await expectError(await api("PUT", path, billing.admin, { read_multiplier: "0.1" }), 403, "permission_denied");
    await expectError(await api("GET", path, alice.admin), 403, "permission_denied");
    expect((await expectError(await api("PUT", path, env.ADMIN_TOKEN, { read_multiplier: "-0.1" }), 400, "invalid_request_error")).param).toBe("read_multiplier");
    expect((await expectError(await api("PUT", path, env.ADMIN_TOKEN, { read_multiplier: "0.1", min_prefix_tokens: 1.5 }), 400, "invalid_request_error")).param).toBe("min_prefix_tokens");
    await expectError(await api("PUT", `/models/${crypto.randomUUID()}/cache-pricing`, env.ADMIN_TOKEN, { read_multiplier: "0.1" }), 404, "not_found");
  });
});
