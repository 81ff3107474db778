/**
 * POST /ai/v1/{chat/completions,completions,embeddings,responses}: authenticate, route, forward,
 * and fill the meter with what the response reports.
 */
import type { Context } from "hono";
import { hashApiKey } from "../../../shared/api-keys.ts";
import { createPool, type Pool } from "../../../shared/db.ts";
import { ApiError } from "../../../shared/errors.ts";
import { usageFromOpenAI } from "../../../shared/usage-message.ts";
import { fetchUpstream, upstreamHeaders, upstreamUrl } from "./proxy.ts";
import { findKeyByHash, findRoute, type KeyRecord } from "./store.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

async function readJsonObject(c: Ctx): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ApiError("invalid_request_error", "The request body is not valid JSON.");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError("invalid_request_error", "The request body must be a JSON object.");
  }
  return body as Record<string, unknown>;
}

function bearerToken(header: string | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1] ?? null;
}

async function authenticate(c: Ctx, pool: Pool): Promise<KeyRecord> {
  const meter = c.var.meter;
  const token = bearerToken(c.req.header("authorization"));
  if (!token) {
    throw new ApiError("invalid_api_key", "Missing API key. Send it as 'Authorization: Bearer tg-…'.");
  }
  const key = await findKeyByHash(pool, await hashApiKey(token));
  if (!key) {
    meter.access = "unknown_api_key";
    throw new ApiError("invalid_api_key", "Incorrect API key provided, or the key has been deleted.");
  }
  meter.access = "api_key";
  meter.apiKeyId = key.id;
  if (key.purpose === "platform") {
    throw new ApiError("permission_denied", "This is a platform (admin) key; inference needs a realtime, batch or playground key.");
  }
  return key;
}

export async function handleInference(c: Ctx): Promise<Response> {
  const meter = c.var.meter;
  const config = c.var.config;
  const body = await readJsonObject(c);
  if (typeof body.model === "string") meter.model = body.model;

  const pool = createPool(config);
  try {
    const key = await authenticate(c, pool);
    if (typeof body.model !== "string" || body.model === "") {
      throw new ApiError("invalid_request_error", "'model' is required and must be a string.", { param: "model" });
    }
    if (body.stream === true) {
      // Streaming is metered by the SSE tee, which is not built yet; refusing is better than
      // serving tokens we cannot bill.
      throw new ApiError("invalid_request_error", "Streaming is not available on this gateway yet; send the request without 'stream'.", { param: "stream" });
    }
    const route = await findRoute(pool, body.model, key.userId);
    if (!route) {
      throw new ApiError("model_not_found", `The model '${body.model}' does not exist. GET /ai/v1/models lists the models your key can use.`, { param: "model" });
    }
    if (!route.allowed) {
      throw new ApiError("model_access_denied", `Your key does not have access to the model '${body.model}'.`, { param: "model" });
    }

    const suffix = c.req.path.slice("/ai/v1".length);
    const headers = await upstreamHeaders(c.req.raw.headers, route, config.ENCRYPTION_KEY);
    const upstream = await fetchUpstream(
      upstreamUrl(route.url, suffix),
      { method: "POST", headers, body: JSON.stringify({ ...body, model: route.modelName }) },
      config.UPSTREAM_TIMEOUT_MS,
      route.endpointName,
    );
    meter.ttfbMs = Date.now() - meter.startedAt;
    meter.servedModel = route.modelName;
    meter.responseType = upstream.ok ? "json" : "error";

    const text = await upstream.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return new Response(text, { status: upstream.status, headers: { "content-type": upstream.headers.get("content-type") ?? "text/plain" } });
    }
    const payload = json as Record<string, unknown>;
    if (upstream.ok) {
      meter.usage = usageFromOpenAI(payload.usage);
      const choice = Array.isArray(payload.choices) ? (payload.choices[0] as Record<string, unknown> | undefined) : undefined;
      if (typeof choice?.finish_reason === "string") meter.finishReason = choice.finish_reason;
      if (typeof payload.model === "string") meter.servedModel = payload.model;
    }
    if ("model" in payload) payload.model = route.alias;
    return new Response(JSON.stringify(payload), { status: upstream.status, headers: { "content-type": "application/json" } });
  } finally {
    c.executionCtx.waitUntil(pool.end());
  }
}
