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
import { usageFromOpenAI } from "../../../shared/usage-message.ts";
import type { MeterState } from "./meter.ts";
import { isEventStream, postUpstream, readUpstreamText } from "./proxy.ts";
import type { ResponseRecorder } from "./responses.ts";
import type { ModelRecord } from "./store.ts";
import { clientStream, eachUpstreamChunk, IdleReader } from "./stream.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

export async function forwardResponsesViaChat(c: Ctx, body: Record<string, unknown>, model: ModelRecord, recorder: ResponseRecorder | null): Promise<Response> {
  const meter = c.get("meter");
  const config = c.get("config");
  let chat: Record<string, unknown>;
  try {
    chat = chatRequestFromResponses(body, model.modelName);
  } catch (err) {
    if (err instanceof AdapterError) throw new ApiError("invalid_request_error", err.message, { param: err.param });
    throw err;
  }
  const ctx: ResponseContext = { id: newResponseId(), alias: model.alias, createdAt: Math.floor(meter.startedAt / 1000), request: body };

  const call = await postUpstream(c.req.raw.headers, model, "/chat/completions", chat, config);
  const upstream = call.response;
  c.set("upstreamHeaders", upstream.headers);
  meter.servedModel = model.modelName;

  if (chat.stream === true && isEventStream(upstream)) {
    call.settled();
    return relayAsResponses(upstream, meter, new ChatToResponsesStream(ctx), config.UPSTREAM_STREAM_IDLE_MS, recorder, (p) => c.executionCtx.waitUntil(p));
  }

  const text = await readUpstreamText(call, config.UPSTREAM_TIMEOUT_MS, model.endpointName);
  meter.ttfbMs = Date.now() - meter.startedAt;
  meter.responseType = upstream.ok ? "json" : "error";
  if (!upstream.ok) {
    // The upstream's error envelope is the OpenAI one on both APIs: passed through as it is.
    return new Response(text, { status: upstream.status, headers: { "content-type": upstream.headers.get("content-type") || "text/plain" } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const response = responseFromChat(json, ctx);
  if (!response) {
    meter.responseType = "error";
    throw new ApiError("upstream_error", `The model server '${model.endpointName}' did not answer with a chat completion.`);
  }
  const payload = json as Record<string, unknown>;
  meter.usage = usageFromOpenAI(payload.usage);
  meter.finishReason = response.status as string;
  if (typeof payload.model === "string") meter.servedModel = payload.model;
  recorder?.json(response, upstream.status);
  return new Response(JSON.stringify(response), { status: upstream.status, headers: { "content-type": "application/json" } });
}

/**
 * Reads the upstream's chat SSE and sends the translated Responses events. As in `relaySse`, the
 * read belongs to `waitUntil`, not to the client: a client that leaves does not stop the usage
 * from being read and recorded.
 */
function relayAsResponses(
  upstream: Response,
  meter: MeterState,
  translator: ChatToResponsesStream,
  idleTimeoutMs: number,
  recorder: ResponseRecorder | null,
  waitUntil: (p: Promise<unknown>) => void,
): Response {
  const reader = new IdleReader(upstream.body!, idleTimeoutMs);
  const client = clientStream();
  const send = (bytes: Uint8Array) => client.send(bytes);

  send(translator.start());
  let upstreamFailed = false;
  const pump = (async () => {
    try {
      await eachUpstreamChunk(reader, meter, (value) => send(translator.push(value)));
      send(translator.finish(true));
      client.close();
    } catch (err) {
      // A cut upstream: the client's stream breaks too, with no terminal event.
      upstreamFailed = true;
      reader.cancel(err);
      send(translator.finish(false));
      client.fail(err);
    } finally {
      const seen = translator.observation;
      if (seen.usage) meter.usage = seen.usage;
      const final = seen.finalResponse;
      meter.finishReason = typeof final?.status === "string" ? final.status : null;
      meter.responseType = seen.errorFrame ? "stream_error" : "stream";
      meter.truncated = upstreamFailed || !!seen.errorFrame || !final || (client.gone && !seen.usage);
      recorder?.stream(final, upstream.status);
    }
  })();
  meter.done = pump;
  waitUntil(pump);

  return new Response(client.body, { status: upstream.status, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}
