/**
 * Composite models: which component to try first and next (weighted random or priority), how long
 * to wait between attempts (exponential backoff with a total budget), which answers are worth
 * another attempt, and which components have failed often enough to be skipped for a while
 * (passive health). Pure: the clock and the random source are arguments, so the gateway and the
 * tests drive the same code.
 */

export const LB_STRATEGIES = ["weighted_random", "priority"] as const;
export type LbStrategy = (typeof LB_STRATEGIES)[number];
export const BACKOFF_JITTERS = ["full", "none"] as const;
export type BackoffJitter = (typeof BACKOFF_JITTERS)[number];

/** The reference system's defaults, so its operators' configurations mean the same here. */
export const ROUTING_DEFAULTS = {
  lb_strategy: "weighted_random" as LbStrategy,
  fallback_enabled: true,
  fallback_on_status: [429, 500, 502, 503, 504] as number[],
  fallback_on_rate_limit: true,
  fallback_with_replacement: false,
  fallback_max_attempts: 3,
  backoff_initial_ms: 100,
  backoff_max_ms: 5_000,
  backoff_factor: 2,
  backoff_jitter: "full" as BackoffJitter,
  backoff_max_total_ms: 10_000,
};

export interface Weighted {
  weight: number;
  sortOrder: number;
}

export interface FallbackPolicy {
  enabled: boolean;
  onStatus: readonly number[];
  onRateLimit: boolean;
  maxAttempts: number;
  withReplacement: boolean;
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  jitter: BackoffJitter;
  /** The most time all the waits of one request may add up to; null = bounded by the attempts only. */
  maxTotalMs: number | null;
}

/**
 * The order in which to try `components` (at most `attempts` entries). `priority`: ascending
 * `sortOrder`, ties in the given order. `weighted_random`: each pick has probability weight / sum of
 * the weights still in play; without replacement a component is tried at most once, with
 * replacement every pick draws from all of them (the reference's `fallback_with_replacement`).
 */
export function attemptOrder<T extends Weighted>(components: readonly T[], strategy: LbStrategy, attempts: number, withReplacement: boolean, random: () => number): T[] {
  if (components.length === 0 || attempts <= 0) return [];
  if (strategy === "priority") {
    const sorted = components.map((c, i) => [c, i] as const).sort((a, b) => a[0].sortOrder - b[0].sortOrder || a[1] - b[1]).map(([c]) => c);
    if (!withReplacement) return sorted.slice(0, attempts);
    // With replacement, priority keeps retrying down the list and wraps around.
    return Array.from({ length: attempts }, (_, i) => sorted[i % sorted.length]!);
  }
  const pool = [...components];
  const order: T[] = [];
  while (order.length < attempts && pool.length > 0) {
    const i = weightedIndex(pool, random());
    order.push(pool[i]!);
    if (!withReplacement) pool.splice(i, 1);
  }
  return order;
}

/** The index `u` (uniform in [0, 1)) lands on when each entry spans a share of [0, 1) equal to its weight. */
export function weightedIndex(items: readonly Weighted[], u: number): number {
  const total = items.reduce((s, c) => s + Math.max(0, c.weight), 0);
  if (total <= 0) return Math.min(items.length - 1, Math.floor(u * items.length));
  let point = u * total;
  for (let i = 0; i < items.length; i++) {
    point -= Math.max(0, items[i]!.weight);
    if (point < 0) return i;
  }
  return items.length - 1;
}

/**
 * The wait before retry number `retry` (1 = before the second attempt): initial × factor^(retry−1),
 * capped at `maxMs`; with full jitter a uniform draw below that (AWS's "full jitter").
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, retry - 1));
  return policy.jitter === "full" ? Math.floor(random() * ceiling) : Math.floor(ceiling);
}

/** Whether an upstream status is worth another component (before any byte reached the client). */
export function isFallbackStatus(status: number, policy: FallbackPolicy): boolean {
  if (!policy.enabled) return false;
  if (status === 429) return policy.onRateLimit;
  return policy.onStatus.includes(status);
}

/** Passive health settings: `failures` in a row eject a component for `cooldownMs`. */
export interface HealthPolicy {
  failures: number;
  cooldownMs: number;
}

export const HEALTH_DEFAULTS: HealthPolicy = { failures: 3, cooldownMs: 30_000 };

/**
 * Consecutive failures per component and when an ejected one may be tried again. After the
 * cool-down one request tries it (half-open): a success clears it, a failure ejects it for another
 * cool-down at once. Bounded: past `maxEntries` the oldest entry is forgotten (it only ever
 * forgets failures, never invents them).
 */
export class HealthBoard {
  private readonly entries = new Map<string, { failures: number; ejectedUntil: number }>();
  constructor(private readonly maxEntries = 10_000) {}

  /** Ejected now: skip it unless nothing else is left. */
  isEjected(id: string, now: number): boolean {
    const e = this.entries.get(id);
    return e !== undefined && e.ejectedUntil > now;
  }

  failed(id: string, now: number, policy: HealthPolicy): void {
    let e = this.entries.get(id);
    if (!e) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      e = { failures: 0, ejectedUntil: 0 };
      this.entries.set(id, e);
    }
    e.failures++;
    if (e.failures >= policy.failures) e.ejectedUntil = now + policy.cooldownMs;
  }

  succeeded(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * The components to route over now: those not ejected, so a dead deployment costs no attempt while
 * another is available; all of them when every one is ejected (trying beats refusing).
 */
export function healthyComponents<T extends { id: string }>(components: readonly T[], board: HealthBoard, now: number): readonly T[] {
  let healthy: T[] | null = null;
  for (let i = 0; i < components.length; i++) {
    const c = components[i]!;
    if (board.isEjected(c.id, now)) healthy ??= components.slice(0, i);
    else healthy?.push(c);
  }
  return healthy === null ? components : healthy.length > 0 ? healthy : components;
}
