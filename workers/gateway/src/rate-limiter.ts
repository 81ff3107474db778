/**
 * Rate limits that hold across isolates and locations: one Durable Object per limited key or
 * model runs a token bucket (shared/token-bucket.ts). Exact per object — every request to it is
 * serialised — at the cost of one Durable Object call per request on a limited key or model;
 * unlimited keys and models pay nothing. The bucket lives in memory: if the object is evicted
 * after being idle, it restarts full, which only ever errs towards allowing a request.
 */
import { DurableObject } from "cloudflare:workers";
import { ApiError } from "../../../shared/errors.ts";
import { effectiveBurst, take, type BucketState, type TakeResult } from "../../../shared/token-bucket.ts";
import type { KeyRecord, ModelRecord } from "./store.ts";

export class RateLimiter extends DurableObject {
  private bucket: BucketState | null = null;

  take(ratePerSecond: number, burst: number): TakeResult {
    const { state, result } = take(this.bucket, ratePerSecond, burst, Date.now());
    this.bucket = state;
    return result;
  }
}

async function check(ns: DurableObjectNamespace<RateLimiter>, name: string, rps: number, burst: number | null): Promise<TakeResult> {
  return ns.get(ns.idFromName(name)).take(rps, effectiveBurst(rps, burst));
}

/** 429 with Retry-After when the key's or the model's limit is exhausted. */
export async function enforceRateLimits(ns: DurableObjectNamespace<RateLimiter>, key: KeyRecord, model: ModelRecord): Promise<void> {
  const checks: Promise<TakeResult & { scope: string }>[] = [];
  if (key.requestsPerSecond) {
    checks.push(check(ns, `key:${key.id}`, key.requestsPerSecond, key.burstSize).then((r) => ({ ...r, scope: "your API key" })));
  }
  if (model.requestsPerSecond) {
    checks.push(check(ns, `model:${model.modelId}`, model.requestsPerSecond, model.burstSize).then((r) => ({ ...r, scope: `the model '${model.alias}'` })));
  }
  if (checks.length === 0) return;
  const refused = (await Promise.all(checks)).filter((r) => !r.allowed);
  if (refused.length === 0) return;
  const waitMs = Math.max(...refused.map((r) => r.retryAfterMs));
  throw new ApiError("rate_limit_exceeded", `Rate limit reached for ${refused.map((r) => r.scope).join(" and ")}. Retry after ${Math.ceil(waitMs / 1000)} s.`, {
    headers: { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) },
  });
}
