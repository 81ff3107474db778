import { describe, expect, it } from "vitest";
import {
  effectiveBurst,
  formatResetDuration,
  LEASE_GRACE_MS,
  LEASE_MS,
  LeasedBucket,
  LeaseHolder,
  maxSlice,
  type LeaseSettlement,
} from "../../shared/token-bucket.ts";

describe("leased token bucket", () => {
  it("grants one token at a time like a plain bucket, then refuses with the time until the next token", () => {
    const bucket = new LeasedBucket();
    const results = [1, 2, 3, 4].map(() => bucket.lease(2, 3, 1, 1000));
    expect(results.map((r) => r.granted)).toEqual([1, 1, 1, 0]);
    expect(results[3]!.retryAfterMs).toBe(500); // 2 tokens/s → one token in 0.5 s
    expect(bucket.leased).toBe(0); // a one-token grant is spent at once: nothing outstanding
  });

  it("refills at the configured rate and never above the burst", () => {
    const bucket = new LeasedBucket();
    bucket.lease(10, 2, 2, 0);
    expect(bucket.leased).toBe(1);
    bucket.settle(10, 2, [{ id: 1, unused: 0 }], 0);
    expect(bucket.lease(10, 2, 1, 50).granted).toBe(0); // 0.5 token after 50 ms
    expect(bucket.lease(10, 2, 1, 100).granted).toBe(1); // 1 token after 100 ms
    expect(bucket.lease(10, 2, 5, 60_000)).toMatchObject({ granted: 2, remaining: 0 }); // long idle: capped at the burst
  });

  it("gives back exactly the unspent tokens of a settled lease, once", () => {
    const bucket = new LeasedBucket();
    const grant = bucket.lease(10, 20, 5, 0);
    expect(grant).toMatchObject({ granted: 5, remaining: 15 });
    const ahead = new LeasedBucket();
    expect(ahead.lease(10, 20, 5, 0, true).granted).toBe(5);
    expect(ahead.leased).toBe(5); // taken ahead of need: all of it outstanding
    expect(bucket.leased).toBe(4); // the asker spent the first token
    bucket.settle(10, 20, [{ id: grant.leaseId, unused: 2 }], 0);
    bucket.settle(10, 20, [{ id: grant.leaseId, unused: 2 }], 0); // settled twice: nothing more
    bucket.settle(10, 20, [{ id: 999, unused: 50 }], 0); // unknown lease: nothing
    expect(bucket.leased).toBe(0);
    expect(bucket.lease(10, 20, 100, 0).granted).toBe(17);
  });

  it("counts leased tokens as spent: the refill stops at the burst minus what is leased", () => {
    const bucket = new LeasedBucket();
    const first = bucket.lease(10, 10, 10, 0);
    expect(first.granted).toBe(10);
    // Half a second refills 5 tokens, but 9 are still leased: only 1 fits under the burst.
    expect(bucket.lease(10, 10, 5, 500).granted).toBe(1);
    bucket.settle(10, 10, [{ id: first.leaseId, unused: 9 }], 500);
    expect(bucket.lease(10, 10, 100, 500).granted).toBe(9);
  });

  it("live leases never hold the whole burst: a refused caller is one refill away from a token", () => {
    const bucket = new LeasedBucket();
    bucket.lease(1, 4, 4, 0); // 3 outstanding, none in the bucket
    expect(bucket.lease(1, 4, 1, 0).retryAfterMs).toBe(1000);
    expect(bucket.lease(1, 4, 4, 1000).granted).toBe(1); // refilled under burst - outstanding
    expect(bucket.lease(1, 4, 1, 1500).retryAfterMs).toBe(500);
  });

  it("forgets a lease that was never settled at its expiry: its tokens count as spent, none come back", () => {
    const bucket = new LeasedBucket();
    const grant = bucket.lease(0.001, 10, 10, 0);
    expect(bucket.leased).toBe(9);
    bucket.settle(0.001, 10, [], LEASE_MS + LEASE_GRACE_MS);
    expect(bucket.leased).toBe(0);
    bucket.settle(0.001, 10, [{ id: grant.leaseId, unused: 9 }], LEASE_MS + LEASE_GRACE_MS + 1); // too late
    expect(bucket.lease(0.001, 10, 10, LEASE_MS + LEASE_GRACE_MS + 1).granted).toBe(0);
  });

  it("never admits more than burst + rate × window, whatever the number of isolates, in a randomised run", () => {
    const rate = 50;
    const burst = 20;
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const bucket = new LeasedBucket();
    let holders = [new LeaseHolder(), new LeaseHolder(), new LeaseHolder()];
    const admitted: number[] = [];
    let refusedCount = 0;
    const settle = (now: number) => (s: LeaseSettlement) => bucket.settle(rate, burst, [s], now);
    for (let now = 0; now < 5000; now += Math.floor(random() * 3)) {
      const holder = holders[Math.floor(random() * holders.length)]!;
      if (random() < 0.02) for (const s of holder.closeSpent(now)) settle(now)(s); // a deadline timer
      if (random() < 0.002) holders = holders.map((h) => (h === holder ? new LeaseHolder() : h)); // an isolate dies, leases unsettled
      const leaseAhead = () => {
        if (!holder.shouldLeaseAhead(rate, burst, now)) return;
        const grant = bucket.lease(rate, burst, holder.want(rate, burst), now, true);
        if (grant.granted > 0) holder.add(grant, now, true);
      };
      if (holder.take(now, settle(now))) {
        admitted.push(now);
        leaseAhead();
        continue;
      }
      const spent = holder.closeSpent(now);
      bucket.settle(rate, burst, spent, now);
      const grant = bucket.lease(rate, burst, holder.want(rate, burst), now);
      if (grant.granted === 0) refusedCount++;
      else {
        holder.add(grant, now);
        admitted.push(now);
        leaseAhead();
      }
    }
    expect(refusedCount).toBeGreaterThan(0);
    for (let i = 0; i < admitted.length; i++) {
      for (let j = i; j < admitted.length; j++) {
        expect(j - i + 1).toBeLessThanOrEqual(burst + (rate * (admitted[j]! - admitted[i]!)) / 1000 + 1e-9);
      }
    }
    // Leasing may refuse early, but not much: close to burst + rate × 5 s.
    expect(admitted.length).toBeGreaterThan(0.85 * (burst + rate * 5));
  });
});

describe("lease holder (the isolate side)", () => {
  it("spends a lease locally, settles it when spent, and doubles the next ask", () => {
    const holder = new LeaseHolder();
    const settled: LeaseSettlement[] = [];
    expect(holder.take(0, (s) => settled.push(s))).toBe(false);
    expect(holder.want(100, 1000)).toBe(1);
    holder.add({ granted: 4, leaseId: 7, remaining: 50, retryAfterMs: 0 }, 0);
    expect(holder.remaining(1000, 0)).toBe(53);
    expect([1, 2, 3].map(() => holder.take(10, (s) => settled.push(s)))).toEqual([true, true, true]);
    expect(settled).toEqual([{ id: 7, unused: 0 }]); // spent to the end: closed at once
    expect(holder.take(10, (s) => settled.push(s))).toBe(false);
    expect(holder.want(100, 1000)).toBe(8);
    expect(holder.want(10, 1000)).toBe(maxSlice(10, 1000)); // capped
  });

  it("stops spending at its deadline and gives the rest back; asks for what it used next time", () => {
    const holder = new LeaseHolder();
    const lease = holder.add({ granted: 10, leaseId: 3, remaining: 0, retryAfterMs: 0 }, 1000)!;
    expect(lease.expiresAt).toBe(1000 + LEASE_MS);
    expect(holder.take(1000 + LEASE_MS - 1, () => undefined)).toBe(true);
    expect(holder.take(1000 + LEASE_MS, () => undefined)).toBe(false);
    expect(holder.closeSpent(1000 + LEASE_MS)).toEqual([{ id: 3, unused: 8 }]);
    expect(holder.close(3)).toBeNull(); // the deadline timer finds it closed
    expect(holder.want(1000, 1000)).toBe(2);
  });

  it("leases ahead for large slices when half its tokens or half the lease's life is gone, never for small ones", () => {
    const holder = new LeaseHolder();
    expect(holder.shouldLeaseAhead(1, 4, 0)).toBe(false); // slices of one token: on demand only
    expect(holder.shouldLeaseAhead(1000, 1000, 0)).toBe(true); // nothing in hand
    holder.add({ granted: 10, leaseId: 1, remaining: 0, retryAfterMs: 0 }, 0, true);
    expect(holder.remaining(1000, 0)).toBe(10); // a lease taken ahead: no token spent yet
    expect(holder.shouldLeaseAhead(1000, 1000, 0)).toBe(false);
    for (let i = 0; i < 5; i++) holder.take(0, () => undefined);
    expect(holder.shouldLeaseAhead(1000, 1000, 0)).toBe(true); // half spent
    holder.renewing = true;
    expect(holder.shouldLeaseAhead(1000, 1000, 0)).toBe(false); // one call at a time
    const fresh = new LeaseHolder();
    fresh.add({ granted: 10, leaseId: 2, remaining: 0, retryAfterMs: 0 }, 0, true);
    expect(fresh.shouldLeaseAhead(1000, 1000, LEASE_MS / 2 + 1)).toBe(true); // past half its life
  });

  it("a one-token grant leaves nothing to settle", () => {
    const holder = new LeaseHolder();
    expect(holder.add({ granted: 1, leaseId: 1, remaining: 3, retryAfterMs: 0 }, 0)).toBeNull();
    expect(holder.closeSpent(0)).toEqual([]);
  });

  it("slices: a quarter of the burst, at most half a second of the rate, at least one", () => {
    expect(maxSlice(0.5, 2)).toBe(1);
    expect(maxSlice(100, 100)).toBe(25);
    expect(maxSlice(100, 10_000)).toBe(50);
    expect(effectiveBurst(5, null)).toBe(5);
    expect(effectiveBurst(0.5, undefined)).toBe(1);
    expect(effectiveBurst(5, 20)).toBe(20);
  });

  it("spells reset durations as OpenAI does", () => {
    expect(formatResetDuration(0)).toBe("0ms");
    expect(formatResetDuration(250)).toBe("250ms");
    expect(formatResetDuration(1000)).toBe("1s");
    expect(formatResetDuration(1500)).toBe("1.5s");
    expect(formatResetDuration(360_000)).toBe("6m0s");
    expect(formatResetDuration(3_723_000)).toBe("1h2m3s");
  });
});
