/**
 * A token bucket that hands out its tokens in leases: `burst` tokens at most, refilled at
 * `ratePerSecond`, one token per request. A caller (a gateway isolate) takes a slice of tokens at
 * once and spends them locally; what it did not spend it gives back when it settles the lease.
 *
 * Exactness: the bucket counts every leased token as spent until its lease is settled or has
 * expired, and refills only up to `burst - outstanding`. So tokens in the bucket plus unspent
 * tokens in live leases never exceed `burst`, and the requests admitted in any window of length W
 * never exceed `burst + ratePerSecond * W`: the bound of a plain token bucket, whatever the number
 * of callers, provided a caller stops spending a lease before the bucket expires it (see
 * `LEASE_GRACE_MS`). Leasing can only refuse early (tokens idle in another caller's lease, or
 * spent but not yet settled, holding back the refill), never admit more. The caller spends the
 * first token of a grant at once, so only the rest of it is outstanding: a one-token grant is a
 * plain take.
 */

/** How long a caller may spend a lease. */
export const LEASE_MS = 500;
/** The bucket expires a lease this long after the caller's own deadline (clock skew, a slow settle). */
export const LEASE_GRACE_MS = 1_000;

/** Burst defaults to one second's worth of requests (at least one). */
export function effectiveBurst(ratePerSecond: number, burst: number | null | undefined): number {
  return burst && burst > 0 ? burst : Math.max(1, Math.ceil(ratePerSecond));
}

/**
 * The largest slice one caller may lease: a quarter of the burst and at most what the rate refills
 * in one lease period, at least one token. Small limits therefore lease one token at a time (every
 * request asks the bucket, as without leasing); only limits high enough for the round trip to
 * matter lease many.
 */
export function maxSlice(ratePerSecond: number, burst: number): number {
  return Math.max(1, Math.floor(Math.min(burst / 4, (ratePerSecond * LEASE_MS) / 1000)));
}

export interface LeaseSettlement {
  id: number;
  /** Tokens of the lease the caller did not spend (it spends none of them afterwards). */
  unused: number;
}

export interface LeaseGrant {
  /** Tokens granted (0: refused). */
  granted: number;
  /** The lease to settle later (0 when nothing was granted). */
  leaseId: number;
  /** Whole tokens left in the bucket after this grant. */
  remaining: number;
  /** Milliseconds until a token is available (0 when granted). */
  retryAfterMs: number;
}

interface Lease {
  count: number;
  expiresAt: number;
}

/**
 * The bucket side (one per limited key or model, inside its Durable Object). Time is passed in, so
 * the arithmetic is testable without a clock.
 *
 * @example
 *   const bucket = new LeasedBucket();
 *   const g = bucket.lease(10, 20, 5, Date.now());    // { granted: 5, leaseId: 1, remaining: 15, … }
 *   bucket.settle(10, 20, [{ id: g.leaseId, unused: 2 }], Date.now()); // 2 tokens come back
 */
export class LeasedBucket {
  private tokens = Number.NaN;
  private updatedAt = 0;
  private outstanding = 0;
  private nextId = 1;
  private readonly leases = new Map<number, Lease>();

  /**
   * Takes up to `want` tokens (at least one, or none and the time until one is available). Unless
   * `prefetch`, the asker spends the first token at once and only the rest is outstanding.
   */
  lease(ratePerSecond: number, burst: number, want: number, now: number, prefetch = false): LeaseGrant {
    this.refill(ratePerSecond, burst, now);
    const granted = Math.min(Math.max(1, Math.floor(want)), Math.floor(this.tokens));
    if (granted >= 1) {
      this.tokens -= granted;
      const leaseId = this.nextId++;
      const held = prefetch ? granted : granted - 1;
      if (held > 0) {
        this.leases.set(leaseId, { count: held, expiresAt: now + LEASE_MS + LEASE_GRACE_MS });
        this.outstanding += held;
      }
      return { granted, leaseId, remaining: Math.floor(this.tokens), retryAfterMs: 0 };
    }
    return { granted: 0, leaseId: 0, remaining: 0, retryAfterMs: this.retryAfter(ratePerSecond) };
  }

  /**
   * Closes leases: their unused tokens go back to the bucket. A lease the bucket no longer knows
   * (expired, or the bucket restarted) gives nothing back.
   */
  settle(ratePerSecond: number, burst: number, settlements: readonly LeaseSettlement[], now: number): void {
    this.refill(ratePerSecond, burst, now);
    for (const { id, unused } of settlements) {
      const lease = this.leases.get(id);
      if (!lease) continue;
      this.leases.delete(id);
      this.outstanding -= lease.count;
      this.tokens = Math.min(burst - this.outstanding, this.tokens + Math.max(0, Math.min(unused, lease.count)));
    }
  }

  /** Tokens in live leases (not yet settled or expired). */
  get leased(): number {
    return this.outstanding;
  }

  private refill(ratePerSecond: number, burst: number, now: number): void {
    if (Number.isNaN(this.tokens)) {
      this.tokens = burst;
      this.updatedAt = now;
    }
    for (const [id, lease] of this.leases) {
      if (lease.expiresAt > now) continue;
      // The caller neither settled nor spent it in time: counted as spent.
      this.leases.delete(id);
      this.outstanding -= lease.count;
    }
    const elapsed = Math.max(0, now - this.updatedAt) / 1000;
    this.tokens = Math.max(0, Math.min(burst - this.outstanding, this.tokens + elapsed * ratePerSecond));
    this.updatedAt = now;
  }

  private retryAfter(ratePerSecond: number): number {
    // Room to refill into is always there: the asker spends the first token of every grant, so
    // live leases hold at most burst - 1.
    return Math.ceil(((1 - this.tokens) / ratePerSecond) * 1000);
  }
}

/** A duration as OpenAI spells it in `x-ratelimit-reset-*`: `250ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatResetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = (total % 60_000) / 1000;
  const s = `${Number(seconds.toFixed(3))}s`;
  if (hours > 0) return `${hours}h${minutes}m${s}`;
  if (minutes > 0) return `${minutes}m${s}`;
  return s;
}

interface HeldLease {
  id: number;
  size: number;
  left: number;
  /** The caller's own deadline for spending it (before the bucket's, by LEASE_GRACE_MS). */
  expiresAt: number;
}

/** How an ask for a lease ended, as the requests that waited for it see it. */
export type LeaseAnswer = { grant: LeaseGrant } | { error: unknown };

/**
 * The caller side (one per limited key or model, per isolate): spends its leases locally, says
 * what to settle, and when to lease ahead. The slice it asks for follows its demand: twice the
 * last lease when that ran out, what it spent when it did not, capped by `maxSlice`.
 */
export class LeaseHolder {
  private leases: HeldLease[] = [];
  private demand = 1;
  private bucketRemaining = 0;
  /** A lease-ahead call is under way (one at a time). */
  renewing = false;
  /**
   * A lease asked for because a request found none, while it is out (large slices only): other
   * requests that find none wait for it instead of asking too (`waiting` of them), so a burst into
   * an isolate with nothing leased is one call to the bucket, not one per request.
   */
  asking: Promise<LeaseAnswer> | null = null;
  waiting = 0;

  /**
   * Spends a token from a live lease: true, or false when there is none (ask the bucket). A lease
   * this spends to the end is closed at once and its settlement passed to `onSpent`, so the bucket
   * stops holding back its refill for it.
   */
  take(now: number, onSpent: (settlement: LeaseSettlement) => void): boolean {
    for (const lease of this.leases) {
      if (lease.left > 0 && now < lease.expiresAt) {
        lease.left--;
        if (lease.left === 0) onSpent(this.close(lease.id)!);
        return true;
      }
    }
    return false;
  }

  /** Closes the leases that are spent or past their deadline, for the next call to the bucket. */
  closeSpent(now: number): LeaseSettlement[] {
    const closed: LeaseSettlement[] = [];
    this.leases = this.leases.filter((lease) => {
      if (lease.left > 0 && now < lease.expiresAt) return true;
      closed.push(this.closing(lease));
      return false;
    });
    return closed;
  }

  /** Closes one lease at its deadline; null when it was already closed. */
  close(id: number): LeaseSettlement | null {
    const lease = this.leases.find((l) => l.id === id);
    if (!lease) return null;
    this.leases = this.leases.filter((l) => l !== lease);
    return this.closing(lease);
  }

  /** How many tokens to ask for: what recent demand suggests, and at least `atLeast` (requests waiting now). */
  want(ratePerSecond: number, burst: number, atLeast = 1): number {
    return Math.min(maxSlice(ratePerSecond, burst), Math.max(this.demand, atLeast));
  }

  /**
   * Records a grant asked for at `askedAt`; unless `prefetch`, the caller spends its first token at
   * once. Returns the lease to settle at its deadline, or null when nothing is left of it.
   */
  add(grant: LeaseGrant, askedAt: number, prefetch = false): HeldLease | null {
    this.bucketRemaining = grant.remaining;
    const left = prefetch ? grant.granted : grant.granted - 1;
    if (left <= 0) {
      this.demand = Math.max(this.demand, 2 * grant.granted);
      return null;
    }
    const lease = { id: grant.leaseId, size: grant.granted, left, expiresAt: askedAt + LEASE_MS };
    this.leases.push(lease);
    return lease;
  }

  /**
   * Whether to lease ahead now, so that requests keep finding tokens here: when the tokens in hand
   * fall to half the newest lease, or it is past half its life. Only for limits whose slices are
   * large (small ones are leased on demand, one token at a time, and never held idle).
   */
  shouldLeaseAhead(ratePerSecond: number, burst: number, now: number): boolean {
    if (this.renewing || maxSlice(ratePerSecond, burst) < 4) return false;
    const newest = this.leases[this.leases.length - 1];
    if (!newest) return true;
    let held = 0;
    for (const lease of this.leases) if (now < lease.expiresAt) held += lease.left;
    return held <= newest.size / 2 || newest.expiresAt - now < LEASE_MS / 2;
  }

  /** Best estimate of the tokens left: the bucket's at the last grant plus this caller's unspent ones. */
  remaining(burst: number, now: number): number {
    let held = 0;
    for (const lease of this.leases) if (now < lease.expiresAt) held += lease.left;
    return Math.min(burst, this.bucketRemaining + held);
  }

  private closing(lease: HeldLease): LeaseSettlement {
    this.demand = lease.left === 0 ? 2 * lease.size : Math.max(1, lease.size - lease.left);
    const settlement = { id: lease.id, unused: lease.left };
    lease.left = 0;
    return settlement;
  }
}
