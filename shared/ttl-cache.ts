/**
 * A small per-isolate cache with expiry, for lookups that must stay off the hot path. Bounded:
 * past `maxEntries` the oldest insertion is evicted (expired entries are only ever dropped that
 * way, so a caller may still ask for a recently expired value: `stale`). Holds plain data only
 * (no I/O objects).
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; storedAt: number; expiresAt: number }>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The live value; undefined when absent or expired (an expired entry is kept for `stale`). */
  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= now) return undefined;
    return entry.value;
  }

  /** The value, even expired, as long as it expired less than `graceMs` ago. */
  stale(key: string, now: number, graceMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt + graceMs <= now) return undefined;
    return entry.value;
  }

  /** How long ago the live entry for `key` was stored; undefined when absent or expired. */
  age(key: string, now: number): number | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= now) return undefined;
    return now - entry.storedAt;
  }

  set(key: string, value: V, ttlMs: number, now: number): void {
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.delete(key);
    this.entries.set(key, { value, storedAt: now, expiresAt: now + ttlMs });
  }

  clear(): void {
    this.entries.clear();
  }
}
