/**
 * A token bucket: `burst` tokens at most, refilled at `ratePerSecond`. One request takes one
 * token; when none is left the answer says how long until one is.
 */
export interface BucketState {
  tokens: number;
  updatedAt: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Milliseconds until a token is available (0 when allowed). */
  retryAfterMs: number;
}

/** Burst defaults to one second's worth of requests (at least one). */
export function effectiveBurst(ratePerSecond: number, burst: number | null | undefined): number {
  return burst && burst > 0 ? burst : Math.max(1, Math.ceil(ratePerSecond));
}

export function take(state: BucketState | null, ratePerSecond: number, burst: number, now: number): { state: BucketState; result: TakeResult } {
  const prior = state ?? { tokens: burst, updatedAt: now };
  const elapsed = Math.max(0, now - prior.updatedAt) / 1000;
  const tokens = Math.min(burst, prior.tokens + elapsed * ratePerSecond);
  if (tokens >= 1) return { state: { tokens: tokens - 1, updatedAt: now }, result: { allowed: true, retryAfterMs: 0 } };
  return { state: { tokens, updatedAt: now }, result: { allowed: false, retryAfterMs: Math.ceil(((1 - tokens) / ratePerSecond) * 1000) } };
}
