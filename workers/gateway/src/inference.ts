/**
 * POST /ai/v1/{chat/completions,completions,embeddings,responses}: parse, authenticate, route,
 * gate, forward, and fill the meter with what the response reports.
 */
import type { Context } from "hono";
import { ApiError } from "../../../shared/errors.ts";
import { isCleanText, upstreamUsage } from "../../../shared/usage-message.ts";
import { resolveInference } from "./access.ts";
import { trustedBatchInfo } from "./batch-trust.ts";
import { isEventStream, postUpstream, readUpstreamText, type UpstreamCall } from "./proxy.ts";
import { direct, needsRouting, routeOptions, routeUpstream } from "./routing.ts";
import { CacheAccounting } from "./prompt-cache.ts";
import { enforceRateLimits } from "./rate-limiter.ts";
import { resolvePreviousResponse, ResponseRecorder } from "./responses.ts";
import { forwardResponsesViaChat } from "./responses-via-chat.ts";
import { relaySse } from "./stream.ts";
import type { ModelRecord } from "./lookups.ts";
import { tokenCounter } from "./token-count.ts";
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
  const meter = c.get("meter");
  const config = c.get("config");
  let body = await readJsonObject(c);
  if (typeof body.model === "string") meter.asked(body.model);
  // Every client string reaches Postgres safely or not at all: no alias has a control character.
  const badAlias = typeof body.model === "string" && !isCleanText(body.model);
  const db = c.get("database");
  // Tollgate's batch runner calling in-process: its key by hash, its batch metadata as given.
  const internal = c.get("batchCall");
  const credential = internal ? { keyHash: internal.keyHash } : c.req.header("authorization");

  if (typeof body.model !== "string" || body.model === "" || badAlias) {
    // Authenticate first so an anonymous caller learns nothing about the body rules.
    await resolveInference(credential, "", db, config, meter).catch((err: unknown) => {
      if (err instanceof ApiError && err.code !== "model_not_found") throw err;
    });
    if (badAlias) throw new ApiError("model_not_found", "The model does not exist: a model name has no control characters.", { param: "model" });
    throw new ApiError("invalid_request_error", "'model' is required and must be a string.", { param: "model" });
  }
  const afterAnswer = c.get("afterAnswer");
  const { key, model } = await resolveInference(credential, body.model, db, config, meter, (task) => afterAnswer.run(task));
  meter.pricedBy(key.purpose, model);
  const batch = internal ? internal.batch : trustedBatchInfo(key, c.req.raw.headers, config, meter.startedAt);
  if (batch) meter.batchTrusted(batch);
  // Tollgate's own limit headers, put on whatever this request answers (passUpstreamHeaders,
  // headers.ts); not on c.res here, which would make Hono copy the response returned below.
  const limitHeaders = await enforceRateLimits(c.env.RATE_LIMITER, key, model, (p) => c.executionCtx.waitUntil(p));
  if (Object.keys(limitHeaders).length > 0) c.set("gatewayHeaders", limitHeaders);

  const suffix = c.req.path.slice("/ai/v1".length);
  const previous = suffix === "/responses" ? await resolvePreviousResponse(body, key, db, c.env.RESPONSES_BUCKET) : null;
  // A continued conversation is forwarded (and stored) whole: the upstream keeps no state.
  if (previous) body = previous.body;
  const previousResponseId = previous?.id ?? null;
  const recorder = ResponseRecorder.for(c, suffix, body, key, model, previousResponseId);
  if (suffix === "/responses" && model.responsesViaChat) return await forwardResponsesViaChat(c, body, model, key.userId, recorder, previousResponseId);
  const streaming = body.stream === true;
  const clientWantsUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
  let cache: CacheAccounting | null = null;
  let outgoing = body;
  if (suffix === "/chat/completions") {
    ({ forwarded: outgoing, cache } = CacheAccounting.prepare(c, body, model, key.userId));
  }
  const forwarded: Record<string, unknown> = { ...outgoing, model: model.modelName };
  if (streaming && USAGE_OPTION_ROUTES.has(suffix)) {
    // Always ask for the usage chunk: it is what we bill from. Removed again for the client
    // if it did not ask.
    forwarded.stream_options = { ...(body.stream_options as object | undefined), include_usage: true };
  }

  // A plain alias without a capacity is one fetch, with no other await on the way.
  const routed = needsRouting(model)
    ? await routeUpstream(model, routeOptions(c, suffix, (target) => ({ ...forwarded, model: target.modelName })))
    : direct(await postUpstream(c.req.raw.headers, model, suffix, forwarded, config), model);
  const call = routed.call;
  const upstream = call.response;
  meter.routed(routed.target, tokenCounter(model, outgoing));
  c.set("upstreamHeaders", upstream.headers);

  if (streaming && isEventStream(upstream)) {
    call.settled();
    const { response, ended } = relaySse(
      upstream,
      {
        idleTimeoutMs: config.UPSTREAM_STREAM_IDLE_MS,
        clientWantsUsage: clientWantsUsage || !USAGE_OPTION_ROUTES.has(suffix),
        // `"usage":null` on every chunk is there because Tollgate asked for usage: removed again.
        edit: { alias: model.alias, dropNullUsage: !clientWantsUsage && USAGE_OPTION_ROUTES.has(suffix), previousResponseId },
        onUsageChunk: async (chunk) => {
          let usage = chunk.usage as Record<string, unknown>;
          if (cache) usage = await cache.rewrite(usage);
          const reported = upstreamUsage(usage);
          const cost = reported ? meter.costOf(reported) : null;
          return cache || cost !== null ? { ...chunk, usage: cost === null ? usage : { ...usage, cost } } : null;
        },
        onClientGone: () => cache?.abort(),
        beforeFinal: recorder ? (final) => recorder.stream(final, upstream.status) : undefined,
        onClientDisconnect: model.onClientDisconnect,
        onFirstBytes: afterAnswer.holdForFirstBytes(),
      },
      (p) => c.executionCtx.waitUntil(p),
    );
    const verdict = meter.streaming(ended);
    // The capacity slots (if any) are held until the stream has ended.
    void ended.finally(routed.release);
    if (cache) c.executionCtx.waitUntil(verdict.then((v) => v.complete && cache.commit(c)));
    return response;
  }

  try {
    return await answerJson(c, routed.call, model, suffix, cache, recorder, previousResponseId);
  } finally {
    routed.release();
  }
}

/** A whole (non-streamed) upstream answer: metered, the alias and cost filled in, stored if asked. */
async function answerJson(
  c: Ctx,
  call: UpstreamCall,
  model: ModelRecord,
  suffix: string,
  cache: CacheAccounting | null,
  recorder: ResponseRecorder | null,
  previousResponseId: string | null,
): Promise<Response> {
  const meter = c.get("meter");
  const config = c.get("config");
  const upstream = call.response;
  const contentType = upstream.headers.get("content-type") ?? "";
  const text = await readUpstreamText(call, config.UPSTREAM_TIMEOUT_MS, model.endpointName);
  meter.responded(upstream.ok);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    // Served as it came: a 2xx is still an answer the client received, so it is counted.
    if (upstream.ok) meter.answered(null, text, null);
    cache?.abort();
    return new Response(text, { status: upstream.status, headers: { "content-type": contentType || "text/plain" } });
  }
  const payload = json as Record<string, unknown>;
  if (upstream.ok) {
    meter.answered(payload, text, finishReasonOf(payload), suffix === "/embeddings" ? "optional" : "required");
    if (cache && payload.usage && typeof payload.usage === "object") {
      payload.usage = await cache.rewrite(payload.usage as Record<string, unknown>);
      cache.commit(c);
    }
  } else {
    cache?.abort();
  }
  // The gateway's price, from the same function and tariffs the consumer uses (which charges).
  const cost = upstream.ok ? meter.answeredCost() : null;
  if (cost !== null && payload.usage && typeof payload.usage === "object") payload.usage = { ...(payload.usage as Record<string, unknown>), cost };
  if (typeof payload.model === "string") {
    meter.servedBy(payload.model);
    payload.model = model.alias;
  }
  // The upstream was sent the expanded conversation, so it names no previous response; OpenAI's does.
  if (previousResponseId && upstream.ok) payload.previous_response_id = previousResponseId;
  if (upstream.ok) await recorder?.json(payload, upstream.status);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (cost !== null) headers["x-tollgate-cost"] = cost;
  return new Response(JSON.stringify(payload), { status: upstream.status, headers });
}
