/** Helpers for the admin API's workerd tests of groups, analytics and user edits. */
import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import type { Queryable } from "../../support/db-fixtures.ts";
import { expectError } from "./helpers.ts";

export const TTL_MS = Number(env.ACCESS_CACHE_TTL_MS);

export const suffix = () => crypto.randomUUID().slice(0, 8);

/** An admin API call; the body is JSON-encoded unless it is already a string. */
export function api(method: string, path: string, token: string = env.ADMIN_TOKEN, body?: unknown): Promise<Response> {
  return SELF.fetch(`https://gateway.test/admin/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

export async function ok<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return (text ? JSON.parse(text) : null) as T;
}

export async function badRequest(res: Response, param: string | null): Promise<string> {
  const error = await expectError(res, 400, "invalid_request_error");
  expect(error.param).toBe(param);
  return error.message;
}

export interface Page<T> {
  data: T[];
  total_count: number;
  skip: number;
  limit: number;
}

export interface Principal {
  id: string;
  username: string;
  /** A platform key for the admin API. */
  admin: string;
  /** A realtime key for inference. */
  inference: string;
  inferenceId: string;
}

/** A user created through the admin API, with a platform key and an inference key. */
export async function principal(roles: string[] = []): Promise<Principal> {
  const username = `u-${suffix()}`;
  const user = await ok<{ id: string }>(await api("POST", "/users", env.ADMIN_TOKEN, { username, email: `${username}@example.com`, roles }), 201);
  const admin = await ok<{ key: string }>(await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "admin", purpose: "platform" }), 201);
  const inference = await ok<{ id: string; key: string }>(await api("POST", `/users/${user.id}/api-keys`, env.ADMIN_TOKEN, { name: "infer" }), 201);
  return { id: user.id, username, admin: admin.key, inference: inference.key, inferenceId: inference.id };
}

export interface AnalyticsFixture {
  timestamp: string;
  model?: string | null;
  status_code?: number;
  duration_ms?: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  cache_read_tokens?: number;
  total_cost?: string | null;
  user_id?: string | null;
  api_key_id?: string | null;
}

/** http_analytics rows as the consumer would write them (only the columns the tests look at vary). */
export async function insertAnalytics(db: Queryable, rows: AnalyticsFixture[]): Promise<string[]> {
  const ids: string[] = [];
  for (const r of rows) {
    const { rows: inserted } = await db.query<{ id: string }>(
      `INSERT INTO http_analytics (event_id, "timestamp", method, uri, model, served_model, status_code, duration_ms,
         prompt_tokens, completion_tokens, total_tokens, cache_read_tokens, response_type, user_id, api_key_id, access_source, total_cost)
       VALUES ($1, $2, 'POST', '/ai/v1/chat/completions', $3, $3, $4, $5, $6, $7, $6::bigint + $7::bigint, $8, 'chat.completion', $9, $10, 'api_key', $11)
       RETURNING id::text AS id`,
      [
        crypto.randomUUID(),
        r.timestamp,
        r.model === undefined ? "m" : r.model,
        r.status_code ?? 200,
        r.duration_ms ?? 100,
        r.prompt_tokens ?? 0,
        r.completion_tokens ?? 0,
        r.cache_read_tokens ?? 0,
        r.user_id ?? null,
        r.api_key_id ?? null,
        r.total_cost === undefined ? "0" : r.total_cost,
      ],
    );
    ids.push(inserted[0]!.id);
  }
  return ids;
}
