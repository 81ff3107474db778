/**
 * POST /ai/v1/{chat/completions,completions,embeddings,responses}: parse, authenticate, route,
 * gate, forward, and fill the meter with what the response reports.
 */
import type { Context } from "hono";
import { ApiError } from "../../../shared/errors.ts";
import { usageFromOpenAI } from "../../../shared/usage-message.ts";
import { RequestDb, resolveInference } from "./access.ts";
import { batchInfoFrom } from "./meter.ts";
import { fetchUpstream, upstreamHeaders, upstreamUrl } from "./proxy.ts";
import { enforceRateLimits } from "./rate-limiter.ts";
import { relaySse } from "./stream.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

/** Routes whose streams carry a chat-style usage chunk that `include_usage` switches on. */
const USAGE_OPTION_ROUTES = new Set(["/chat/completions", "/completions"]);

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

function finishReasonOf(payload: Record<string, unknown>): string | null {
  const choice = Array.isArray(payload.choices) ? (payload.choices[0] as Record<string, unknown> | undefined) : undefined;
  if (typeof choice?.finish_reason === "string") return choice.finish_reason;
  if (payload.object === "response" && typeof payload.status === "string") return payload.status;
  return null;
}

export async function handleInference(c: Ctx): Promise<Response> {
  const meter = c.var.meter;
  const config = c.var.config;
  const body = await readJsonObject(c);
  if (typeof body.model === "string") meter.model = body.model;

  const db = new RequestDb(config);
  try {
    if (typeof body.model !== "string" || body.model === "") {
      // Authenticate first so an anonymous caller learns nothing about the body rules.
      await resolveInference(c.req.header("authorization"), "", db, config, meter).catch((err: unknown) => {
        if (err instanceof ApiError && err.code !== "model_not_found") throw err;
      });
      throw new ApiError("invalid_request_error", "'model' is required and must be a string.", { param: "model" });
    }
    const { key, model } = await resolveInference(c.req.header("authorization"), body.model, db, config, meter);
    if (key.purpose === "batch") meter.batch = batchInfoFrom(c.req.raw.headers);
    await enforceRateLimits(c.env.RATE_LIMITER, key, model);

    const suffix = c.req.path.slice("/ai/v1".length);
    const streaming = body.stream === true;
    const clientWantsUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const forwarded: Record<string, unknown> = { ...body, model: model.modelName };
    if (streaming && USAGE_OPTION_ROUTES.has(suffix)) {
      // Always ask for the usage chunk: it is what we bill from. Removed again for the client
      // if it did not ask.
      forwarded.stream_options = { ...(body.stream_options as object | undefined), include_usage: true };
    }

    const upstream = await fetchUpstream(
      upstreamUrl(model.url, suffix),
      { method: "POST", headers: await upstreamHeaders(c.req.raw.headers, model, config.ENCRYPTION_KEY), body: JSON.stringify(forwarded) },
      config.UPSTREAM_TIMEOUT_MS,
      model.endpointName,
    );
    meter.servedModel = model.modelName;

    const contentType = upstream.headers.get("content-type") ?? "";
    if (streaming && upstream.ok && upstream.body && contentType.includes("text/event-stream")) {
      return relaySse(upstream, meter, { clientWantsUsage: clientWantsUsage || !USAGE_OPTION_ROUTES.has(suffix) }, (p) => c.executionCtx.waitUntil(p));
    }

    const text = await upstream.text();
    meter.ttfbMs = Date.now() - meter.startedAt;
    meter.responseType = upstream.ok ? "json" : "error";
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return new Response(text, { status: upstream.status, headers: { "content-type": contentType || "text/plain" } });
    }
    const payload = json as Record<string, unknown>;
    if (upstream.ok) {
      meter.usage = usageFromOpenAI(payload.usage);
      meter.finishReason = finishReasonOf(payload);
    }
    if (typeof payload.model === "string") {
      meter.servedModel = payload.model;
      payload.model = model.alias;
    }
    return new Response(JSON.stringify(payload), { status: upstream.status, headers: { "content-type": "application/json" } });
  } finally {
    db.close((p) => c.executionCtx.waitUntil(p));
  }
}
