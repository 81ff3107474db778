/**
 * Rate limits that hold across isolates and locations: one Durable Object per limited key or
 * model owns a token bucket (shared/token-bucket.ts). Each isolate leases a slice of its tokens and
 * spends them without a round trip; what it does not spend within the lease goes back to the
 * bucket. The bucket counts leased tokens as spent until they are settled, so no number of
 * isolates can admit more than the bucket allows (docs/rate-limits.md gives the bound). Limits low
 * enough that a slice is one token ask the object on every request, as before leasing; unlimited
 * keys and models pay nothing.
 *
 * The bucket lives in memory: if the object is evicted after being idle, it restarts full, which
 * only ever errs towards allowing a request.
 */
import { DurableObject } from "cloudflare:workers";
import { ApiError } from "../../../shared/errors.ts";
import {
  effectiveBurst,
  formatResetDuration,
  LeasedBucket,
  LeaseHolder,
  maxSlice,
  type LeaseAnswer,
  type LeaseGrant,
  type LeaseSettlement,
} from "../../../shared/token-bucket.ts";
import type { KeyRecord, ModelRecord } from "./lookups.ts";

export class RateLimiter extends DurableObject {
  private readonly bucket = new LeasedBucket();

  /** Settles `spent` leases, then leases up to `want` tokens (`prefetch`: ahead of need, none spent yet). */
  lease(ratePerSecond: number, burst: number, want: number, spent: LeaseSettlement[], prefetch: boolean): LeaseGrant {
    const now = Date.now();
    if (spent.length > 0) this.bucket.settle(ratePerSecond, burst, spent, now);
    return this.bucket.lease(ratePerSecond, burst, want, now, prefetch);
  }

  settle(ratePerSecond: number, burst: number, spent: LeaseSettlement[]): void {
    this.bucket.settle(ratePerSecond, burst, spent, Date.now());
  }
}

/** This isolate's leases, per limited key or model (bounded; a dropped holder's leases expire). */
const holders = new Map<string, LeaseHolder>();
const MAX_HOLDERS = 10_000;

function holderFor(name: string): LeaseHolder {
  let holder = holders.get(name);
  if (!holder) {
    if (holders.size >= MAX_HOLDERS) holders.delete(holders.keys().next().value!);
    holder = new LeaseHolder();
    holders.set(name, holder);
  }
  return holder;
}

/** What a limit looks like after this request, for the `x-ratelimit-*-requests` headers. */
export interface RateLimitInfo {
  limit: number;
  remaining: number;
  resetMs: number;
}

interface Outcome extends RateLimitInfo {
  allowed: boolean;
  retryAfterMs: number;
}

type WaitUntil = (p: Promise<unknown>) => void;

async function check(ns: DurableObjectNamespace<RateLimiter>, name: string, rps: number, configuredBurst: number | null, waitUntil: WaitUntil): Promise<Outcome> {
  const burst = effectiveBurst(rps, configuredBurst);
  const holder = holderFor(name);
  const object = () => ns.get(ns.idFromName(name));
  const settle = (settlement: LeaseSettlement) => object().settle(rps, burst, [settlement]);
  // Unspent tokens go back at the lease's deadline, unless it was spent or settled before.
  const untilDeadline = async (lease: { id: number; expiresAt: number } | null) => {
    if (!lease) return;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lease.expiresAt - Date.now())));
    const settlement = holder.close(lease.id);
    if (settlement) await settle(settlement);
  };
  const allowed = (): Outcome => {
    if (holder.shouldLeaseAhead(rps, burst, Date.now())) {
      holder.renewing = true;
      const askedAt = Date.now();
      waitUntil(
        object()
          .lease(rps, burst, holder.want(rps, burst), holder.closeSpent(askedAt), true)
          .then((grant) => (grant.granted > 0 ? holder.add(grant, askedAt, true) : null))
          .finally(() => (holder.renewing = false))
          .then(untilDeadline),
      );
    }
    const remaining = holder.remaining(burst, Date.now());
    return { allowed: true, retryAfterMs: 0, limit: burst, remaining, resetMs: ((burst - remaining) / rps) * 1000 };
  };

  const refused = (grant: LeaseGrant): Outcome => ({ allowed: false, retryAfterMs: grant.retryAfterMs, limit: burst, remaining: 0, resetMs: (burst / rps) * 1000 });
  const onSpent = (settlement: LeaseSettlement) => waitUntil(settle(settlement));

  if (holder.take(Date.now(), onSpent)) return allowed();
  // A lease is being asked for already: wait for it rather than ask too (its refusal, or its
  // failure, is this request's as well), then take from it; what it could not cover asks again.
  while (holder.asking) {
    holder.waiting++;
    let answer: LeaseAnswer;
    try {
      answer = await holder.asking;
    } finally {
      holder.waiting--;
    }
    if ("error" in answer) throw answer.error;
    if (answer.grant.granted === 0) return refused(answer.grant);
    if (holder.take(Date.now(), onSpent)) return allowed();
  }
  const askedAt = Date.now();
  const asked = object().lease(rps, burst, holder.want(rps, burst, holder.waiting + 1), holder.closeSpent(askedAt), false);
  // Only for slices of several tokens: a limit leased one token at a time asks per request.
  const shared = maxSlice(rps, burst) >= 4 ? asked.then((grant): LeaseAnswer => ({ grant }), (error: unknown): LeaseAnswer => ({ error })) : null;
  if (shared) holder.asking = shared;
  let grant: LeaseGrant;
  try {
    grant = await asked;
  } finally {
    // Waiters that resume before the lease is added below find `asking` still set and wait on it
    // once more; either way they take from the lease.
    if (shared && holder.asking === shared) holder.asking = null;
  }
  if (grant.granted === 0) return refused(grant);
  const lease = holder.add(grant, askedAt);
  if (lease) waitUntil(untilDeadline(lease));
  return allowed();
}

/**
 * 429 with Retry-After when the key's or the model's limit is exhausted. Returns the headers
 * OpenAI sends for its own limits (`x-ratelimit-{limit,remaining,reset}-requests`) for the tighter
 * of the two limits, or none when neither is limited; a 429 carries them too.
 */
export async function enforceRateLimits(
  ns: DurableObjectNamespace<RateLimiter>,
  key: KeyRecord,
  model: ModelRecord,
  waitUntil: WaitUntil,
): Promise<Record<string, string>> {
  const checks: Promise<Outcome & { scope: string }>[] = [];
  if (key.requestsPerSecond) {
    checks.push(check(ns, `key:${key.id}`, key.requestsPerSecond, key.burstSize, waitUntil).then((r) => ({ ...r, scope: "your API key" })));
  }
  if (model.requestsPerSecond) {
    checks.push(check(ns, `model:${model.modelId}`, model.requestsPerSecond, model.burstSize, waitUntil).then((r) => ({ ...r, scope: `the model '${model.alias}'` })));
  }
  if (checks.length === 0) return {};
  const outcomes = await Promise.all(checks);
  const tightest = outcomes.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  const headers = {
    "x-ratelimit-limit-requests": String(tightest.limit),
    "x-ratelimit-remaining-requests": String(tightest.remaining),
    "x-ratelimit-reset-requests": formatResetDuration(tightest.resetMs),
  };
  const refused = outcomes.filter((r) => !r.allowed);
  if (refused.length === 0) return headers;
  const waitMs = Math.max(...refused.map((r) => r.retryAfterMs));
  throw new ApiError("rate_limit_exceeded", `Rate limit reached for ${refused.map((r) => r.scope).join(" and ")}. Retry after ${Math.ceil(waitMs / 1000)} s.`, {
    headers: { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))), ...headers },
  });
}
