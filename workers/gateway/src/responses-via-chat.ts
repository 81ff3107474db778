/**
 * POST /ai/v1/responses for a model whose server only speaks Chat Completions (the model's
 * `responses_via_chat` switch): the request is translated and sent to the endpoint's
 * `/chat/completions`, and the answer — JSON or SSE — comes back as the Responses API's.
 *
 * Metering is the upstream's own: tokens from the chat `usage` (the stream always asks for its
 * usage chunk), the finish reason as the translated response's status, and a stream that did not
 * really finish is flagged truncated and never given an invented `response.completed`.
 */
import type { Context } from "hono";
import { ApiError } from "../../../shared/errors.ts";
import { newResponseId } from "../../../shared/response-message.ts";
import { AdapterError, chatRequestFromResponses, ChatToResponsesStream, responseFromChat, type ResponseContext } from "../../../shared/responses-adapter.ts";
import { Transcript, type StreamEnd } from "../../../shared/metering.ts";
import { isEventStream, postUpstream, readUpstreamText } from "./proxy.ts";
import { CacheAccounting } from "./prompt-cache.ts";
import { direct, needsRouting, routeOptions, routeUpstream, type Routed } from "./routing.ts";
import type { ResponseRecorder } from "./responses.ts";
import type { ModelRecord } from "./lookups.ts";
import { tokenCounter } from "./token-count.ts";
import { clientLeaving, clientStream, eachUpstreamChunk, IdleReader, type Relayed } from "./stream.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

export async function forwardResponsesViaChat(
  c: Ctx,
  body: Record<string, unknown>,
  model: ModelRecord,
  principalId: string,
  recorder: ResponseRecorder | null,
  previousResponseId: string | null,
): Promise<Response> {
  const meter = c.get("meter");
  const config = c.get("config");
  let chat: Record<string, unknown>;
  try {
    chat = chatRequestFromResponses(body, model.modelName);
  } catch (err) {
    if (err instanceof AdapterError) throw new ApiError("invalid_request_error", err.message, { param: err.param });
    throw err;
  }
  const ctx: ResponseContext = { id: newResponseId(), alias: model.alias, createdAt: Math.floor(meter.startedAt / 1000), request: body, previousResponseId };

  // Prompt-cache accounting as for chat completions: markers validated and stripped, classify forked.
  const { forwarded, cache } = CacheAccounting.prepare(c, chat, model, principalId);
  chat = forwarded;
  const outgoing = chat;
  const routed = needsRouting(model)
    ? await routeUpstream(model, routeOptions(c, "/chat/completions", (target) => ({ ...outgoing, model: target.modelName })))
    : direct(await postUpstream(c.req.raw.headers, model, "/chat/completions", chat, config), model);
  try {
    return await relayViaChat(c, routed, body, model, chat, cache, ctx, recorder);
  } finally {
    routed.release();
  }
}

async function relayViaChat(
  c: Ctx,
  routed: Routed,
  body: Record<string, unknown>,
  model: ModelRecord,
  chat: Record<string, unknown>,
  cache: CacheAccounting,
  ctx: ResponseContext,
  recorder: ResponseRecorder | null,
): Promise<Response> {
  const meter = c.get("meter");
  const config = c.get("config");
  const call = routed.call;
  const upstream = call.response;
  meter.routed(routed.target, tokenCounter(model, body));
  c.set("upstreamHeaders", upstream.headers);

  if (chat.stream === true && isEventStream(upstream)) {
    call.settled();
    const beforeFinal = recorder ? (final: Record<string, unknown>) => recorder.stream(final, upstream.status) : undefined;
    // The final event reports the prompt-cache read the customer is billed for, as JSON answers do.
    const cachedTokens = async (promptTokens: number) => cachedOf(await cache.rewrite({ prompt_tokens: promptTokens }));
    const { response, ended } = relayAsResponses(upstream, new ChatToResponsesStream(ctx), config.UPSTREAM_STREAM_IDLE_MS, model.onClientDisconnect, (p) => c.executionCtx.waitUntil(p), beforeFinal, cachedTokens);
    // Billing's cache split needs only the prompt tokens, known at the stream's end: joined there.
    const accounted = ended.then(async (end) => {
      if (end.observation.usage) await cache.rewrite({ prompt_tokens: end.observation.usage.prompt_tokens });
      else cache.abort();
      return end;
    });
    const verdict = meter.streaming(accounted);
    c.executionCtx.waitUntil(verdict.then((v) => v.complete && cache.commit(c)));
    // The slots are held until the stream has ended, not until this returns.
    const release = routed.release;
    routed.release = () => {};
    void ended.finally(release);
    return response;
  }

  const text = await readUpstreamText(call, config.UPSTREAM_TIMEOUT_MS, model.endpointName);
  meter.responded(upstream.ok);
  if (!upstream.ok) {
    cache.abort();
    // The upstream's error envelope is the OpenAI one on both APIs: passed through as it is.
    return new Response(text, { status: upstream.status, headers: { "content-type": upstream.headers.get("content-type") || "text/plain" } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const usage = (json as { usage?: unknown } | undefined)?.usage;
  if (typeof usage === "object" && usage !== null && !Array.isArray(usage)) {
    (json as Record<string, unknown>).usage = await cache.rewrite(usage as Record<string, unknown>);
    cache.commit(c);
  } else {
    cache.abort();
  }
  const response = responseFromChat(json, ctx);
  if (!response) {
    meter.failed();
    throw new ApiError("upstream_error", `The model server '${model.endpointName}' did not answer with a chat completion.`);
  }
  meter.answered(json as Record<string, unknown>, text, response.status as string);
  await recorder?.json(response, upstream.status);
  return new Response(JSON.stringify(response), { status: upstream.status, headers: { "content-type": "application/json" } });
}

/**
 * Reads the upstream's chat SSE and sends the translated Responses events. As in `relaySse`, the
 * read belongs to `waitUntil`, not to the client; a client that leaves cancels the upstream or
 * lets it drain, as the model's `on_client_disconnect` says. The observation returned speaks Responses: its finish reason is the final
 * response's status, and its final response is the one the client was sent (null: none was).
 */
function relayAsResponses(
  upstream: Response,
  translator: ChatToResponsesStream,
  idleTimeoutMs: number,
  onClientDisconnect: "cancel" | "drain",
  waitUntil: (p: Promise<unknown>) => void,
  beforeFinal?: (finalResponse: Record<string, unknown>) => Promise<void>,
  cachedTokens?: (promptTokens: number) => Promise<number>,
): Relayed {
  const reader = new IdleReader(upstream.body!, idleTimeoutMs);
  const leaving = clientLeaving(reader, onClientDisconnect);
  const client = clientStream(() => leaving.left());
  let finalHeld = false;
  // Bytes that carry the final response wait for `beforeFinal` (the stored response's live copy).
  const send = (bytes: Uint8Array): void | Promise<void> => {
    const final = translator.observation.finalResponse;
    if (final && !finalHeld && beforeFinal) {
      finalHeld = true;
      return beforeFinal(final).then(() => client.send(bytes));
    }
    client.send(bytes);
  };

  send(translator.start());
  const first: { at: number | null } = { at: null };
  const transcript = new Transcript();
  const ended = (async (): Promise<StreamEnd> => {
    let cut = false;
    try {
      await eachUpstreamChunk(reader, first, (value) => {
        transcript.push(value);
        return send(translator.push(value));
      });
      const usage = translator.observation.usage;
      if (usage && cachedTokens) translator.reportCachedTokens(await cachedTokens(usage.prompt_tokens));
      await send(translator.finish(true));
      client.close();
    } catch (err) {
      // A cut upstream: the client's stream breaks too, with no terminal event.
      cut = !leaving.cancelled;
      reader.cancel(err);
      await send(translator.finish(false));
      client.fail(err);
    }
    const seen = translator.observation;
    const final = seen.finalResponse;
    const observation = { ...seen, finishReason: typeof final?.status === "string" ? final.status : null };
    return { observation, cut, clientGone: client.gone, firstByteAt: first.at, transcript };
  })();
  waitUntil(ended);

  const response = new Response(client.body, { status: upstream.status, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  return { response, ended };
}

/** The cached prompt tokens of a usage object the prompt-cache layer rewrote (0 when none). */
function cachedOf(usage: Record<string, unknown>): number {
  const details = usage.prompt_tokens_details as { cached_tokens?: unknown } | undefined;
  return typeof details?.cached_tokens === "number" ? details.cached_tokens : 0;
}
