/**
 * Model capacity: the most requests in flight at once for a model, held across isolates and
 * locations by one Durable Object per model. A request takes a lease before it goes upstream and
 * gives it back when its response has ended (for a stream: when the relay has read the upstream
 * to its end or given up on it). Beyond capacity the caller gets a 429
 * `concurrency_limit_exceeded` with Retry-After — or, for a composite alias, the next component.
 *
 * A lease that is never given back (its isolate died mid-request) expires after LEASE_TTL_MS, so
 * a lost release costs a slot for a bounded time, never for good. The count lives in memory: an
 * object evicted after being idle holds no leases anyway; one restarted under load forgets its
 * leases and may admit up to `capacity` more until they end (docs/routing.md).
 *
 * Models without a capacity never reach this file: the gateway's hot path makes no call for them.
 */
import { DurableObject } from "cloudflare:workers";
import { ApiError, errorMessage } from "../../../shared/errors.ts";

/** How long a lease lives without a release: longer than any request a model server may hold. */
export const LEASE_TTL_MS = 15 * 60_000;
/** What a refused request is told to wait (seconds): slots free as requests end, so soon. */
export const CAPACITY_RETRY_AFTER_S = 1;

export interface LeaseAnswer {
  granted: boolean;
  inFlight: number;
}

export class ConcurrencyLimiter extends DurableObject {
  /** Lease id → when it expires unless released. */
  private readonly leases = new Map<string, number>();

  acquire(capacity: number, id: string, ttlMs: number = LEASE_TTL_MS): LeaseAnswer {
    const now = Date.now();
    if (this.leases.size >= capacity) {
      for (const [lease, expiresAt] of this.leases) if (expiresAt <= now) this.leases.delete(lease);
    }
    if (this.leases.size >= capacity) return { granted: false, inFlight: this.leases.size };
    this.leases.set(id, now + ttlMs);
    return { granted: true, inFlight: this.leases.size };
  }

  release(id: string): void {
    this.leases.delete(id);
  }

  /** For tests and operators: the leases held now. */
  inFlight(): number {
    const now = Date.now();
    let n = 0;
    for (const expiresAt of this.leases.values()) if (expiresAt > now) n++;
    return n;
  }
}

/** A granted slot; `release()` gives it back once (later calls do nothing). */
export interface Lease {
  release(): void;
}

type WaitUntil = (p: Promise<unknown>) => void;

/**
 * Takes one of `capacity` slots of model `modelId`; null when all are taken. The release is sent
 * in the background (`waitUntil`), never on the response path.
 */
export async function acquireSlot(ns: DurableObjectNamespace<ConcurrencyLimiter>, modelId: string, capacity: number, waitUntil: WaitUntil): Promise<Lease | null> {
  const stub = ns.get(ns.idFromName(`model:${modelId}`));
  const id = crypto.randomUUID();
  const answer = await stub.acquire(capacity, id);
  if (!answer.granted) return null;
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      waitUntil(stub.release(id).catch((err: unknown) => console.warn(`capacity release failed (the lease expires on its own): ${errorMessage(err)}`)));
    },
  };
}

/** The 429 for a model at capacity. */
export function atCapacity(alias: string): ApiError {
  return new ApiError("concurrency_limit_exceeded", `The model '${alias}' is at capacity (too many requests in flight). Retry after ${CAPACITY_RETRY_AFTER_S} s.`, {
    headers: { "retry-after": String(CAPACITY_RETRY_AFTER_S) },
  });
}
