/** Shared helpers for the gateway's workerd tests. */
import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import type { UsageMessage } from "../../../shared/usage-message.ts";
import type { Pool } from "../../../shared/db.ts";
import type { ResponseMessage } from "../../../shared/response-message.ts";
import { writeResponseBatch } from "../../../workers/consumer/src/response-writer.ts";
import { received, responsesReceived } from "./test-main.ts";

export interface Recorded {
  path: string;
  headers: Record<string, string>;
  body: { model?: string; [k: string]: unknown };
  response: string;
}

export const mockBase = () => `${env.MOCK_UPSTREAM_URL}/v1`;

export async function upstreamRequests(): Promise<Recorded[]> {
  return (await (await fetch(`${env.MOCK_UPSTREAM_URL}/__mock/requests`)).json()) as Recorded[];
}

/** The upstream request whose body matches `pred` (latest first). */
export async function upstreamRequest(pred: (r: Recorded) => boolean): Promise<Recorded> {
  const found = (await upstreamRequests()).reverse().find(pred);
  if (!found) throw new Error("the upstream saw no such request");
  return found;
}

export function post(path: string, body: unknown, key: string | null, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`https://gateway.test/ai/v1${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function expectError(res: Response, status: number, code: string): Promise<{ message: string; param: string | null; type: string }> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { message: string; type: string; code: string; param: string | null } };
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

/**
 * Waits for the usage message the gateway sent for a response (by its event id header). Generous:
 * a record the gateway counts itself waits for the built-in tokenizer, which an isolate loads on
 * first use (seconds on a loaded machine).
 */
export async function usageMessageFor(res: Response, timeoutMs = 15_000): Promise<UsageMessage> {
  const eventId = res.headers.get("x-tollgate-event-id");
  expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = received.find((m) => m.event_id === eventId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no usage message for ${eventId} within ${timeoutMs} ms`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The response message the gateway enqueued for stored response `id`. */
export async function responseMessageFor(id: string, timeoutMs = 5000): Promise<ResponseMessage> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = responsesReceived.find((m) => m.id === id);
    if (found) return found;
    await sleep(20);
  }
  throw new Error(`no response message for ${id} within ${timeoutMs} ms`);
}

/** What the consumer does with a response message: the real write path, on one connection. */
export async function persistResponse(pool: Pool, message: ResponseMessage): Promise<void> {
  const client = await pool.connect();
  try {
    expect(await writeResponseBatch(client, [message])).toMatchObject({ stored: 1, droppedOwnerless: 0 });
  } finally {
    client.release();
  }
}
