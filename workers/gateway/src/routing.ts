/**
 * Sending a request upstream when the model needs more than one `fetch`: a capacity slot to take,
 * or a composite alias to route over its components (docs/routing.md).
 *
 * A composite picks its components in the order shared/routing.ts gives (weighted random or
 * priority, ejected components skipped) and moves on to the next one — after a backoff wait —
 * when an attempt fails before anything was sent to the client: a status in
 * `fallback_on_status` (429 under `fallback_on_rate_limit`), a connect error, a timeout, or no
 * capacity left. A failed attempt's body is cancelled unread. The attempt that is kept is the
 * first answer that is not worth another try, or the last one allowed (its error, as the upstream
 * sent it, is the client's answer); once the caller relays a body, routing is over, so a stream
 * that has started is never switched.
 *
 * Passive health is per isolate: a component that fails ROUTING_EJECT_AFTER_FAILURES times in a
 * row is skipped for ROUTING_EJECT_COOLDOWN_MS (then tried again by one request).
 */
import type { Context } from "hono";
import { ApiError } from "../../../shared/errors.ts";
import { attemptOrder, backoffDelayMs, HealthBoard, healthyComponents, isFallbackStatus } from "../../../shared/routing.ts";
import type { RoutingInfo } from "../../../shared/usage-message.ts";
import { acquireSlot, atCapacity, type ConcurrencyLimiter, type Lease } from "./capacity.ts";
import type { GatewayConfig } from "./config.ts";
import { postUpstream, type UpstreamCall } from "./proxy.ts";
import type { ModelRecord, UpstreamTarget } from "./lookups.ts";
import type { GatewayApp } from "./types.ts";

/** This isolate's view of which components have been failing. */
const health = new HealthBoard();

/** For tests: forget every component's failures. */
export function clearRoutingHealth(): void {
  health.clear();
}

/** The upstream call that will answer the client, and who made it. */
export interface Routed {
  call: UpstreamCall;
  /** The model or component that answered (its `modelName` was sent upstream). */
  target: UpstreamTarget;
  /** Gives back the capacity slots held for the call: once its response has ended. Safe to call twice. */
  release(): void;
}

/** True when sending to `model` takes more than one plain fetch (the hot path checks this first). */
export function needsRouting(model: ModelRecord): boolean {
  return model.routing !== null || model.capacity !== null;
}

/** A plain model's call: nothing held, nothing to release. */
export function direct(call: UpstreamCall, model: ModelRecord): Routed {
  return { call, target: model, release: noop };
}
const noop = () => {};

export interface RouteOptions {
  clientHeaders: Headers;
  suffix: string;
  /** The body for a target (its upstream name in `model`). */
  payloadFor(target: UpstreamTarget): unknown;
  config: GatewayConfig;
  capacity: DurableObjectNamespace<ConcurrencyLimiter>;
  waitUntil(p: Promise<unknown>): void;
  /** Told what routing did (composites), whether or not a component served. */
  record(info: RoutingInfo): void;
  /** For tests: the random source of the picker and the jitter. */
  random?: () => number;
}

const sleep = (ms: number) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

/** Sends the request for a model with a capacity and/or components; see the file comment. */
export async function routeUpstream(model: ModelRecord, o: RouteOptions): Promise<Routed> {
  const held: Lease[] = [];
  const release = () => {
    for (const lease of held.splice(0)) lease.release();
  };
  try {
    if (model.capacity !== null) {
      const lease = await acquireSlot(o.capacity, model.modelId, model.capacity, o.waitUntil);
      if (!lease) throw atCapacity(model.alias);
      held.push(lease);
    }
    if (!model.routing) {
      const call = await postUpstream(o.clientHeaders, model, o.suffix, o.payloadFor(model), o.config);
      return { call, target: model, release };
    }
    return await routeComposite(model, o, held, release);
  } catch (err) {
    release();
    throw err;
  }
}

async function routeComposite(model: ModelRecord, o: RouteOptions, held: Lease[], release: () => void): Promise<Routed> {
  const routing = model.routing!;
  const info: RoutingInfo = { attempts: [], served_by: null };
  o.record(info);
  if (routing.components.length === 0) {
    throw new ApiError("service_unavailable", `The model '${model.alias}' has no enabled component to serve it.`);
  }
  const random = o.random ?? Math.random;
  const policy = { failures: o.config.ROUTING_EJECT_AFTER_FAILURES, cooldownMs: o.config.ROUTING_EJECT_COOLDOWN_MS };
  const maxAttempts = routing.fallback.enabled ? routing.fallback.maxAttempts : 1;
  const order = attemptOrder(healthyComponents(routing.components, health, Date.now()), routing.strategy, maxAttempts, routing.fallback.withReplacement, random);
  let waited = 0;
  for (let i = 0; i < order.length; i++) {
    const target = order[i]!;
    // Decided before this attempt: whether another may follow, and after what wait.
    const delay = i + 1 < order.length ? backoffDelayMs(i + 1, routing.backoff, random) : null;
    const mayRetry = delay !== null && (routing.backoff.maxTotalMs === null || waited + delay <= routing.backoff.maxTotalMs);
    const next = async () => {
      waited += delay!;
      await sleep(delay!);
    };

    let lease: Lease | null = null;
    if (target.capacity !== null) {
      lease = await acquireSlot(o.capacity, target.modelId, target.capacity, o.waitUntil);
      if (!lease) {
        info.attempts.push({ component: target.alias, status: 429, error: "capacity" });
        if (mayRetry) {
          await next();
          continue;
        }
        throw atCapacity(model.alias);
      }
      held.push(lease);
    }

    let call: UpstreamCall;
    try {
      call = await postUpstream(o.clientHeaders, target, o.suffix, o.payloadFor(target), o.config);
    } catch (err) {
      if (!(err instanceof ApiError) || (err.code !== "upstream_error" && err.code !== "upstream_timeout")) throw err;
      info.attempts.push({ component: target.alias, status: err.status, error: err.code === "upstream_timeout" ? "timeout" : "connect" });
      health.failed(target.id, Date.now(), policy);
      if (lease) held.splice(held.indexOf(lease), 1)[0]!.release();
      if (mayRetry) {
        await next();
        continue;
      }
      throw err;
    }

    const status = call.response.status;
    info.attempts.push({ component: target.alias, status, error: null });
    if (status >= 500) health.failed(target.id, Date.now(), policy);
    else health.succeeded(target.id);
    if (mayRetry && isFallbackStatus(status, routing.fallback)) {
      // Nothing of it reached the client: drop the body unread, free its slot, try the next one.
      call.response.body?.cancel().catch(() => undefined);
      call.settled();
      if (lease) held.splice(held.indexOf(lease), 1)[0]!.release();
      await next();
      continue;
    }
    // A final error (retries spent, or fallback off) is passed on, but no component served it.
    if (status < 500 && status !== 429) info.served_by = target.alias;
    return { call, target, release };
  }
  // Only reachable when no component could be tried at all.
  throw new ApiError("service_unavailable", `The model '${model.alias}' has no component that could take the request.`);
}

/** What routing needs from the request (routing.ts): the client's headers, bindings, the meter. */
export function routeOptions(c: Context<GatewayApp>, suffix: string, payloadFor: RouteOptions["payloadFor"]): RouteOptions {
  const meter = c.get("meter");
  return {
    clientHeaders: c.req.raw.headers,
    suffix,
    payloadFor,
    config: c.get("config"),
    capacity: c.env.CONCURRENCY_LIMITER,
    waitUntil: (p) => c.executionCtx.waitUntil(p),
    record: (info) => meter.routedVia(info),
  };
}
