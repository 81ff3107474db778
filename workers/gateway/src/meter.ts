/**
 * Usage capture: every inference request (including those rejected before the upstream, as the
 * reference system records them) produces exactly one usage message, sent after the response in
 * `waitUntil` so metering never delays the caller (in a bundle with its neighbours: see the outbox).
 */
import { createMiddleware } from "hono/factory";
import type { ACCESS_OUTCOMES, BatchInfo, CacheSplit, TokenUsage, UsageMessageV1 } from "../../../shared/usage-message.ts";
import { clipUsageMessage, usageBundles, ZERO_CACHE, ZERO_USAGE, type UsageBundle } from "../../../shared/usage-message.ts";
import type { GatewayApp } from "./types.ts";

/** Mutable per-request record the handlers fill in as they learn things. */
export interface MeterState {
  eventId: string;
  startedAt: number;
  access: (typeof ACCESS_OUTCOMES)[number];
  apiKeyId: string | null;
  model: string | null;
  servedModel: string | null;
  ttfbMs: number | null;
  usage: TokenUsage;
  cache: CacheSplit;
  responseType: string;
  finishReason: string | null;
  truncated: boolean;
  batch: BatchInfo | null;
  /** Resolves when the response body has been fully seen (streams finish after the handler returns). */
  done: Promise<void>;
}

const SEND_BACKOFF_MS = [50, 250];

/** W3C traceparent: version-traceid-parentid-flags; returns the 32-hex trace id when well formed. */
export function traceIdFrom(traceparent: string | undefined): string | null {
  const m = traceparent?.trim().match(/^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/);
  return m?.[1] && !/^0+$/.test(m[1]) ? m[1] : null;
}

export function buildUsageMessage(state: MeterState, req: Request, status: number, endedAt: number): UsageMessageV1 {
  const url = new URL(req.url);
  return clipUsageMessage({
    v: 1,
    event_id: state.eventId,
    timestamp: new Date(state.startedAt).toISOString(),
    method: req.method,
    uri: url.pathname,
    access: state.access,
    api_key_id: state.apiKeyId,
    model: state.model,
    served_model: state.servedModel,
    status_code: status,
    duration_ms: Math.max(0, endedAt - state.startedAt),
    ttfb_ms: state.ttfbMs,
    usage: state.usage,
    cache: state.cache,
    response_type: state.responseType,
    finish_reason: state.finishReason,
    truncated: state.truncated,
    trace_id: traceIdFrom(req.headers.get("traceparent") ?? undefined),
    user_agent: req.headers.get("user-agent"),
    batch: state.batch,
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Batch metadata from the batch runner's headers. Only read for `batch`-purpose keys: these fields
 * choose the tariff (completion window, creation time), so no other key may set them.
 */
export function batchInfoFrom(headers: Headers): BatchInfo | null {
  const batchId = headers.get("x-fusillade-batch-id");
  const requestId = headers.get("x-fusillade-request-id");
  const createdAt = headers.get("x-fusillade-batch-created-at");
  const created = createdAt && !Number.isNaN(Date.parse(createdAt)) ? new Date(createdAt).toISOString() : null;
  return {
    batch_id: batchId && UUID.test(batchId) ? batchId.toLowerCase() : null,
    request_id: requestId && UUID.test(requestId) ? requestId.toLowerCase() : null,
    custom_id: headers.get("x-fusillade-custom-id"),
    completion_window: headers.get("x-fusillade-batch-completion-window"),
    created_at: created,
    request_source: headers.get("x-fusillade-request-source") ?? "",
  };
}

/**
 * Usage messages waiting to go out together (plain data, per isolate). What accumulates in the
 * linger window leaves as one queue message, a usage bundle (shared/usage-message.ts): under load
 * one queue operation carries many requests; alone, a message waits at most OUTBOX_LINGER_MS.
 * The request that opens the outbox owns its flush (in its own waitUntil), so no request ever
 * waits on another's promise.
 */
const outbox: UsageMessageV1[] = [];
let flushScheduled = false;
const OUTBOX_LINGER_MS = 25;

async function flushOutbox(queue: Queue): Promise<void> {
  await new Promise((r) => setTimeout(r, OUTBOX_LINGER_MS));
  flushScheduled = false;
  // Only what is here now: messages that arrive while this flush is sending wait for the flush
  // they schedule, and so travel in full bundles rather than as a trail of small ones.
  for (const bundle of usageBundles(outbox.splice(0))) {
    await sendUsageBundle(queue, bundle);
  }
}

/** Queues a usage message; returns the flush to hand to waitUntil when this call opened one. */
export function enqueueUsage(queue: Queue, message: UsageMessageV1): Promise<void> | null {
  outbox.push(message);
  if (flushScheduled) return null;
  flushScheduled = true;
  return flushOutbox(queue);
}

/** Sends with bounded retries; a failure is logged (event ids only, never bodies) and never thrown. */
export async function sendUsageBundle(queue: Queue, bundle: UsageBundle): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await queue.send(bundle, { contentType: "json" });
      return true;
    } catch (err) {
      const delay = SEND_BACKOFF_MS[attempt];
      if (delay === undefined) {
        const ids = bundle.messages.map((m) => m.event_id).join(", ");
        console.error(`usage messages not enqueued after ${attempt + 1} attempts (${ids}): ${err instanceof Error ? err.message : String(err)}`);
        return false;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export const meter = createMiddleware<GatewayApp>(async function meter(c, next) {
  const state: MeterState = {
    eventId: crypto.randomUUID(),
    startedAt: Date.now(),
    access: "unauthenticated",
    apiKeyId: null,
    model: null,
    servedModel: null,
    ttfbMs: null,
    usage: { ...ZERO_USAGE },
    cache: { ...ZERO_CACHE },
    responseType: "error",
    finishReason: null,
    truncated: false,
    batch: null,
    done: Promise.resolve(),
  };
  c.set("meter", state);
  await next();
  // On the response's own headers: Hono's c.header() would wrap the finished response in a new one.
  // Every response here is built by the gateway, so its headers are mutable; the fallback is for safety.
  try {
    c.res.headers.set("x-tollgate-event-id", state.eventId);
  } catch {
    c.header("x-tollgate-event-id", state.eventId);
  }
  const status = c.res.status;
  const req = c.req.raw;
  const queue = c.env.USAGE_QUEUE;
  c.executionCtx.waitUntil(
    // `done` never decides whether a message is sent: a failed body still gets its record.
    state.done.catch(() => undefined).then(() => enqueueUsage(queue, buildUsageMessage(state, req, status, Date.now()))),
  );
});
