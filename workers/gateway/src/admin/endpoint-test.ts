/**
 * `POST /endpoints/{id}/test` (managers): can the gateway reach this endpoint with its stored
 * credentials? One `GET {url}/models` with the endpoint's upstream auth header (decrypted here as
 * the proxy does), bounded by ENDPOINT_TEST_TIMEOUT_MS, answered as a value: `ok: false` with an
 * error sentence rather than a 5xx, because an unreachable upstream is the news the caller asked for.
 *
 * What keeps this admin-only action from becoming a probe or a leak: only managers may call it;
 * the URL is the stored one (http/https without userinfo, validated when it was saved) — the caller
 * cannot name another; redirects are not followed (a redirect could carry the credentials to
 * another host); at most MAX_BODY_BYTES of the answer are read and only model ids (short strings)
 * come back; the secret never appears in the answer, and error sentences are ours, not the
 * upstream's body.
 */
import type { Context } from "hono";
import * as z from "zod";
import { decryptSecret, importSecretKey } from "../../../../shared/secret-box.ts";
import { ConfigError } from "../config.ts";
import { upstreamUrl } from "../proxy.ts";
import type { AdminApp } from "./principal.ts";
import { notFound, type AdminInput } from "./validation.ts";

const ENDPOINT_TEST_TIMEOUT_MS = 5_000;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_MODELS = 1000;

export const EndpointTestResult = z.object({
  ok: z.boolean().describe("True when the endpoint answered 2xx with an OpenAI-style model list"),
  status: z.number().int().nullable().describe("The upstream's HTTP status; null when it could not be reached"),
  latency_ms: z.number().describe("Until the answer was read (or the attempt failed)"),
  models: z.array(z.string()).describe("Model ids the endpoint lists (at most 1000)"),
  error: z.string().nullable(),
});
export type EndpointTestResult = z.output<typeof EndpointTestResult>;

// Only the ids matter; everything else in the list is the provider's business.
const ModelList = z.object({ data: z.array(z.object({ id: z.string().max(300) }).loose()) }).loose();

type EndpointRow = { url: string; api_key_encrypted: string | null; auth_header_name: string; auth_header_prefix: string };

export async function testEndpoint(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  const { rows } = await c.get("db").query<EndpointRow>("SELECT url, api_key_encrypted, auth_header_name, auth_header_prefix FROM inference_endpoints WHERE id = $1", [id]);
  const endpoint = rows[0];
  if (!endpoint) throw notFound("endpoint", id);
  const headers = new Headers({ accept: "application/json" });
  if (endpoint.api_key_encrypted) {
    const encryptionKey = c.get("config").ENCRYPTION_KEY;
    if (!encryptionKey) throw new ConfigError("ENCRYPTION_KEY is not set: the endpoint's stored api_key cannot be decrypted.");
    headers.set(endpoint.auth_header_name, endpoint.auth_header_prefix + (await decryptSecret(await importSecretKey(encryptionKey), endpoint.api_key_encrypted)));
  }
  return c.json(await probe(upstreamUrl(endpoint.url, "/models"), headers));
}

async function probe(url: string, headers: Headers): Promise<EndpointTestResult> {
  const started = performance.now();
  const result = (status: number | null, models: string[], error: string | null): EndpointTestResult => ({
    ok: error === null,
    status,
    latency_ms: Math.round((performance.now() - started) * 10) / 10,
    models,
    error,
  });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ENDPOINT_TEST_TIMEOUT_MS);
  try {
    let res: Response;
    try {
      res = await fetch(url, { method: "GET", headers, redirect: "manual", signal: controller.signal });
    } catch {
      return result(null, [], controller.signal.aborted ? `No answer within ${ENDPOINT_TEST_TIMEOUT_MS} ms.` : "The endpoint could not be reached (connection refused, DNS or TLS failure).");
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      return result(res.status, [], `The endpoint answered with a redirect (${res.status}); redirects are not followed, so credentials never go elsewhere. Store the final URL.`);
    }
    const text = await readBounded(res).catch(() => null);
    if (text === null) return result(res.status, [], controller.signal.aborted ? `The answer did not complete within ${ENDPOINT_TEST_TIMEOUT_MS} ms.` : `The answer was larger than ${MAX_BODY_BYTES} bytes or broke off.`);
    if (!res.ok) {
      const hint = res.status === 401 || res.status === 403 ? " Check the endpoint's api_key and auth header." : "";
      return result(res.status, [], `The endpoint answered HTTP ${res.status}.${hint}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return result(res.status, [], "The endpoint answered, but not with JSON: is the URL the API's base (e.g. https://host/v1)?");
    }
    const list = ModelList.safeParse(json);
    if (!list.success) return result(res.status, [], "The endpoint answered JSON without an OpenAI-style model list (data[].id).");
    return result(res.status, list.data.data.slice(0, MAX_MODELS).map((m) => m.id), null);
  } finally {
    clearTimeout(timer);
  }
}

/** The body as text, refusing more than MAX_BODY_BYTES. */
async function readBounded(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new Error("too large");
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}
