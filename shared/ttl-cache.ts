/**
 * A small per-isolate cache with expiry, for lookups that must stay off the hot path. Bounded:
 * past `maxEntries` the oldest insertion is evicted. Holds plain data only (no I/O objects).
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; storedAt: number; expiresAt: number }>();

  constructor(private readonly maxEntries = 10_000) {}

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
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
