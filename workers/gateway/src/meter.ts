/**
 * Metering, in one room. Every inference request (including those refused before the upstream,
 * as the reference system records them) gets one `Meter`, which alone owns what its usage message
 * will say. The handlers tell it what happened through its verbs (`identified`, `routed`,
 * `answered`, `streamEnded`, …); the stream relays return what they observed instead of writing
 * into it; and the one message is built from it after the response, in `waitUntil`, so metering
 * never delays the caller (it leaves in a bundle with its neighbours: see outbox.ts).
 */
import type { Context } from "hono";
import { errorMessage } from "../../../shared/errors.ts";
import { completionTextOfJson, streamVerdict, type StreamEnd, type StreamVerdict } from "../../../shared/metering.ts";
import type { ACCESS_OUTCOMES, BatchInfo, CacheSplit, RoutingInfo, TokenUsage, UsageMessageV1, UsageSource } from "../../../shared/usage-message.ts";
import { clipUsageMessage, MAX_TOKEN_COUNT, upstreamUsage, ZERO_CACHE, ZERO_USAGE } from "../../../shared/usage-message.ts";
import { moneyText, priceUsage, type CacheTariff, type Tariff } from "../../../shared/pricing.ts";
import { enqueueUsage } from "./outbox.ts";
import type { TokenCounter } from "./token-count.ts";
import type { GatewayApp } from "./types.ts";

/** W3C traceparent: version-traceid-parentid-flags; returns the 32-hex trace id when well formed. */
export function traceIdFrom(traceparent: string | undefined): string | null {
  const m = traceparent?.trim().match(/^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/);
  return m?.[1] && !/^0+$/.test(m[1]) ? m[1] : null;
}

/**
 * The path of a request's URL as `new URL(url).pathname` gives it, without parsing the whole URL:
 * `Request.url` is already serialised (http or https, so the path starts at the first `/` after
 * the host and ends at `?` or `#`; a `/`, `?` or `#` in the user info or host is percent-encoded).
 */
export function pathnameOf(url: string): string {
  const scheme = url.indexOf("://");
  const start = scheme < 0 ? -1 : url.indexOf("/", scheme + 3);
  if (start < 0) return new URL(url).pathname;
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  return url.slice(start, end);
}

/** One request's meter. Created by `startMeter`; read with `c.var.meter`. */
export class Meter {
  readonly eventId: string = crypto.randomUUID();
  readonly startedAt: number = Date.now();
  private access: (typeof ACCESS_OUTCOMES)[number] = "unauthenticated";
  private apiKeyId: string | null = null;
  private model: string | null = null;
  private servedModel: string | null = null;
  private ttfbMs: number | null = null;
  private usage: TokenUsage = { ...ZERO_USAGE };
  private cache: CacheSplit = { ...ZERO_CACHE };
  private responseType = "error";
  private finishReason: string | null = null;
  private truncated = false;
  private batch: BatchInfo | null = null;
  private usageSource: UsageSource = "upstream";
  private clientDisconnected = false;
  /** What routing did for a composite alias (its attempts fill in as they happen). */
  private routing: RoutingInfo | null = null;
  /** What the gateway prices with: the key's purpose and the model's cached tariffs. */
  private pricing: { purpose: string; tariffs: readonly Tariff[]; cacheTariffs: readonly CacheTariff[] } | null = null;
  /** Counts tokens for this request's model and prompt (set once the request is routed). */
  private counter: TokenCounter | null = null;
  /** The upstream served an answer without a usable usage report: what to count instead. */
  private uncounted: { completion: () => string; extraTokens: number } | null = null;
  /** Settles when the response body has been fully seen (streams finish after the handler returns). */
  private pending: Promise<unknown> = Promise.resolve();
  /** `startedAt` as ISO 8601, made once. */
  private startedIso: string | null = null;
  /** The last price worked out and what it depended on: the answer's price is asked for twice (response, usage message). */
  private lastCost: { prompt: number; completion: number; cache: CacheSplit; batch: BatchInfo | null; pricing: Meter["pricing"]; cost: string | null } | null = null;

  private timestamp(): string {
    return (this.startedIso ??= new Date(this.startedAt).toISOString());
  }

  /** The alias the client asked for. */
  asked(alias: string): void {
    this.model = alias;
  }

  /** The bearer token matched no live key. */
  unknownKey(): void {
    this.access = "unknown_api_key";
  }

  /** Postgres could not be reached to check the key, and nothing cached could answer (access.ts). */
  databaseUnavailable(): void {
    this.access = "database_unavailable";
  }

  identified(key: { id: string }): void {
    this.access = "api_key";
    this.apiKeyId = key.id;
  }

  /** Batch metadata the trust rules accepted (inference.ts, `trustedBatchInfo`). */
  batchTrusted(batch: BatchInfo): void {
    this.batch = batch;
  }

  /**
   * The id this request's usage record carries once it answered `status`. A batch request's
   * successful answer is recorded under the batch request's own id, so a request that runs twice
   * (a runner that died after the upstream answered, before it wrote the result) is charged once:
   * the consumer keeps one record per id. Failed attempts keep their own ids; they are not charged,
   * and must not take the id a later success is charged under.
   */
  eventIdFor(status: number): string {
    const requestId = this.batch?.request_id;
    return requestId && status >= 200 && status < 300 ? requestId : this.eventId;
  }

  /** The request went to the upstream under the model's own name; `counter` counts its tokens if need be. */
  routed(model: { modelName: string }, counter: TokenCounter | null = null): void {
    this.servedModel = model.modelName;
    this.counter = counter;
  }

  /** A composite alias was routed: `info` is the record routing keeps filling (routing.ts). */
  routedVia(info: RoutingInfo): void {
    this.routing = info;
  }

  /** The request will be priced at these tariffs (the consumer's price, from the same function, is what is charged). */
  pricedBy(purpose: string, model: { tariffs: readonly Tariff[]; cacheTariffs: readonly CacheTariff[] }): void {
    this.pricing = { purpose, tariffs: model.tariffs, cacheTariffs: model.cacheTariffs };
  }

  /**
   * The gateway's price of `usage` (with the request's cache split and batch) as a decimal string
   * in credits, by shared/pricing.ts's priceUsage; null when unknown or when no tariff applies (free).
   */
  costOf(usage: TokenUsage): string | null {
    if (!this.pricing) return null;
    // The price depends on the prompt and completion counts, the cache split, the batch and the tariffs only.
    const last = this.lastCost;
    if (last && last.prompt === usage.prompt_tokens && last.completion === usage.completion_tokens && last.cache === this.cache && last.batch === this.batch && last.pricing === this.pricing) {
      return last.cost;
    }
    const priced = priceUsage({ timestamp: this.timestamp(), batch: this.batch, usage, cache: this.cache }, this.pricing.purpose, this.pricing.tariffs, this.pricing.cacheTariffs);
    const cost = priced ? moneyText(priced.cost.totalCost) : null;
    this.lastCost = { prompt: usage.prompt_tokens, completion: usage.completion_tokens, cache: this.cache, batch: this.batch, pricing: this.pricing, cost };
    return cost;
  }

  /** The price of a whole answer's reported usage, for the response itself (null: unknown yet, or free). */
  answeredCost(): string | null {
    return this.uncounted ? null : this.costOf(this.usage);
  }

  /** The prompt's split between cache reads and writes (Tollgate's own prompt-cache index). */
  cached(split: CacheSplit): void {
    this.cache = split;
  }

  /** A whole (non-streamed) upstream answer has arrived, successful or not. */
  responded(ok: boolean): void {
    this.ttfbMs ??= Date.now() - this.startedAt;
    this.responseType = ok ? "json" : "error";
  }

  /**
   * A successful whole answer: its usage, finish reason and the upstream's name for the model.
   * `payload` is the upstream's JSON object, null when the body (`raw`) was not one. Without a
   * usable usage report the tokens are counted: the prompt, and the answer's text (all of `raw`
   * when it was not JSON: that is what the client was served). `completion: "optional"` for
   * routes that generate nothing (embeddings).
   */
  answered(payload: Record<string, unknown> | null, raw: string, finishReason: string | null, completion: "required" | "optional" = "required"): void {
    const usage = upstreamUsage(payload?.usage, completion);
    if (usage) this.usage = usage;
    else this.uncounted = { completion: () => completionTextOfJson(payload, raw), extraTokens: 0 };
    this.finishReason = finishReason;
    if (typeof payload?.model === "string") this.servedModel = payload.model;
  }

  /** The upstream's name for the model that served it (from a non-successful JSON body too). */
  servedBy(name: string): void {
    this.servedModel = name;
  }

  /** The upstream answered 2xx but not with anything usable. */
  failed(): void {
    this.responseType = "error";
  }

  /** A stream's end, folded by `streamVerdict`. */
  streamEnded(end: StreamEnd): StreamVerdict {
    const verdict = streamVerdict(end);
    if (end.firstByteAt !== null) this.ttfbMs ??= Math.max(0, end.firstByteAt - this.startedAt);
    if (verdict.usage) this.usage = verdict.usage;
    // The name the upstream reported, as for JSON answers (`answered`).
    if (end.observation.servedModel) this.servedModel = end.observation.servedModel;
    this.finishReason = verdict.finishReason;
    this.responseType = verdict.responseType;
    this.truncated = verdict.truncated;
    this.clientDisconnected = end.clientGone;
    if (!verdict.usage) this.uncounted = { completion: () => end.transcript.completionText(), extraTokens: end.transcript.overflowTokens() };
    return verdict;
  }

  /**
   * A relayed stream: the meter waits for its end before the usage message is built. Returns the
   * verdict, for what else depends on how the stream ended (prompt-cache commit, stored response).
   */
  streaming(ended: Promise<StreamEnd>): Promise<StreamVerdict> {
    const verdict = ended.then((end) => this.streamEnded(end));
    this.pending = verdict;
    return verdict;
  }

  /**
   * Settles once everything the message will say is known — the stream's end, and Tollgate's own
   * count when the upstream reported no usable usage; never rejects.
   */
  async settled(): Promise<void> {
    await this.pending.catch(() => undefined);
    const uncounted = this.uncounted;
    if (!uncounted || !this.counter) return;
    try {
      const [prompt, completion] = await Promise.all([this.counter.prompt(), this.counter.text(uncounted.completion())]);
      const cap = (n: number) => Math.min(n, MAX_TOKEN_COUNT);
      const total = completion + uncounted.extraTokens;
      this.usage = { prompt_tokens: cap(prompt), completion_tokens: cap(total), reasoning_tokens: 0, total_tokens: cap(prompt + total), cached_tokens: 0 };
      this.usageSource = "estimated";
    } catch (err) {
      // The built-in tokenizer failing is a bug, not an input: say so, and record what is known.
      console.error(`usage ${this.eventId} could not be counted: ${errorMessage(err)}`);
    }
  }

  message(req: Request, status: number, endedAt: number): UsageMessageV1 {
    return clipUsageMessage({
      v: 1,
      event_id: this.eventIdFor(status),
      timestamp: this.timestamp(),
      method: req.method,
      uri: pathnameOf(req.url),
      access: this.access,
      api_key_id: this.apiKeyId,
      model: this.model,
      served_model: this.servedModel,
      status_code: status,
      duration_ms: Math.max(0, endedAt - this.startedAt),
      ttfb_ms: this.ttfbMs,
      usage: this.usage,
      cache: this.cache,
      response_type: this.responseType,
      finish_reason: this.finishReason,
      truncated: this.truncated,
      trace_id: traceIdFrom(req.headers.get("traceparent") ?? undefined),
      user_agent: req.headers.get("user-agent"),
      batch: this.batch,
      usage_source: this.usageSource,
      client_disconnected: this.clientDisconnected,
      gateway_cost: this.costOf(this.usage),
      ...(this.routing ? { routing: this.routing } : {}),
    });
  }
}

/** Starts the request's meter (`c.var.meter`). */
export function startMeter(c: Context<GatewayApp>): Meter {
  const m = new Meter();
  c.set("meter", m);
  return m;
}

/**
 * Once the handler has answered (`c.res`, an error answer too): the response's event id, and the
 * usage message, sent after the body has been seen, off the response path.
 */
export function finishMeter(c: Context<GatewayApp>, m: Meter): void {
  // On the response's own headers: Hono's c.header() would wrap the finished response in a new one.
  // Every response here is built by the gateway, so its headers are mutable; the fallback is for safety.
  try {
    c.res.headers.set("x-tollgate-event-id", m.eventIdFor(c.res.status));
  } catch {
    c.header("x-tollgate-event-id", m.eventIdFor(c.res.status));
  }
  const status = c.res.status;
  const req = c.req.raw;
  const queue = c.env.USAGE_QUEUE;
  // How the body ended never decides whether a message is sent: a failed body still gets its record.
  c.executionCtx.waitUntil(m.settled().then(() => enqueueUsage(queue, m.message(req, status, Date.now()))));
}
