/**
 * Cache classification, pure: given the prompt's breakpoints, the token count up to each block,
 * and which prefixes the index holds alive, decide what is read and what is written.
 *
 *  - The read is the longest live prefix among each breakpoint and the READ_LOOKBACK_BLOCKS
 *    blocks before it.
 *  - Each breakpoint deeper than the read becomes a write in its own tier, of the tokens between
 *    the previous cached position and it.
 *  - Below the model's min_prefix_tokens nothing is read or written.
 */
import { READ_LOOKBACK_BLOCKS, TIER_SECONDS, type Breakpoint, type Tier } from "./markers.ts";

export interface CacheStats {
  read: number;
  write5m: number;
  write1h: number;
  write24h: number;
}

export const NO_CACHE: CacheStats = { read: 0, write5m: 0, write1h: 0, write24h: 0 };

export interface LiveEntry {
  tier: Tier;
}

export interface IndexWrite {
  prefixHash: string;
  prefixTokens: number;
  tier: Tier;
  expiresInSeconds: number;
}

export interface Classification {
  stats: CacheStats;
  /** New entries to insert when the request succeeds. */
  writes: IndexWrite[];
  /** The entry read, whose expiry slides on success. */
  slide: { prefixHash: string; expiresInSeconds: number } | null;
}

/** Positions a read may match: every breakpoint and the blocks just before it. */
export function readCandidates(breakpoints: readonly Breakpoint[]): number[] {
  const set = new Set<number>();
  for (const bp of breakpoints) {
    for (let i = bp.block; i >= 0 && i > bp.block - READ_LOOKBACK_BLOCKS - 1; i--) set.add(i);
  }
  return [...set].sort((a, b) => a - b);
}

export function classify(
  breakpoints: readonly Breakpoint[],
  cumulativeTokens: readonly number[],
  hashes: readonly string[],
  live: ReadonlyMap<string, LiveEntry>,
  minPrefixTokens: number,
): Classification {
  let readBlock = -1;
  for (const i of readCandidates(breakpoints)) {
    const entry = live.get(hashes[i]!);
    if (entry && cumulativeTokens[i]! >= minPrefixTokens && i > readBlock) readBlock = i;
  }
  const read = readBlock >= 0 ? cumulativeTokens[readBlock]! : 0;
  const stats: CacheStats = { ...NO_CACHE, read };
  const writes: IndexWrite[] = [];
  let covered = read;
  const ordered = [...breakpoints].sort((a, b) => a.block - b.block);
  for (const bp of ordered) {
    const tokens = cumulativeTokens[bp.block]!;
    if (bp.block <= readBlock || tokens < minPrefixTokens || tokens <= covered) continue;
    const added = tokens - covered;
    if (bp.tier === "5m") stats.write5m += added;
    else if (bp.tier === "1h") stats.write1h += added;
    else stats.write24h += added;
    writes.push({ prefixHash: hashes[bp.block]!, prefixTokens: tokens, tier: bp.tier, expiresInSeconds: TIER_SECONDS[bp.tier] });
    covered = tokens;
  }
  const readEntry = readBlock >= 0 ? live.get(hashes[readBlock]!) : undefined;
  return {
    stats,
    writes,
    slide: readEntry ? { prefixHash: hashes[readBlock]!, expiresInSeconds: TIER_SECONDS[readEntry.tier] } : null,
  };
}

export function totalWrites(s: CacheStats): number {
  return s.write5m + s.write1h + s.write24h;
}

/**
 * The split as reported and billed: never more than the prompt. A split whose writes alone
 * exceed the prompt is not trusted at all (no caching, list price); otherwise the read is capped
 * at what the writes leave.
 */
export function normalizeSplit(stats: CacheStats, promptTokens: number): CacheStats {
  const writes = totalWrites(stats);
  if (writes > promptTokens) return { ...NO_CACHE };
  return { ...stats, read: Math.min(stats.read, promptTokens - writes) };
}

const CACHE_FIELDS = ["cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation"];

/** Writes the split into an OpenAI `usage` object; `prompt_tokens` stays the full input. */
export function injectCacheStats(usage: Record<string, unknown>, stats: CacheStats): Record<string, unknown> {
  const details = typeof usage.prompt_tokens_details === "object" && usage.prompt_tokens_details ? (usage.prompt_tokens_details as Record<string, unknown>) : {};
  return {
    ...usage,
    prompt_tokens_details: { ...details, cached_tokens: stats.read },
    cache_read_input_tokens: stats.read,
    cache_creation_input_tokens: totalWrites(stats),
    cache_creation: {
      ephemeral_5m_input_tokens: stats.write5m,
      ephemeral_1h_input_tokens: stats.write1h,
      ephemeral_24h_input_tokens: stats.write24h,
    },
  };
}

/** For models without caching: the provider's own cache fields are not ours to report or bill. */
export function scrubCacheStats(usage: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(usage)) if (!CACHE_FIELDS.includes(k)) out[k] = v;
  if (typeof usage.prompt_tokens_details === "object" && usage.prompt_tokens_details) {
    out.prompt_tokens_details = { ...(usage.prompt_tokens_details as Record<string, unknown>), cached_tokens: 0 };
  }
  return out;
}
