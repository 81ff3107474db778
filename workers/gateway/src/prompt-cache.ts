/**
 * Prompt-cache accounting on the gateway (ARCHITECTURE §5): classify a request's cacheable
 * prefixes in parallel with the upstream call, and commit the index write only after a billable
 * success. Any failure — tokenizer, index, deadline, client gone — degrades to "not cached, list
 * price", never to an error for the caller.
 */
import type { Context } from "hono";
import { withPool } from "../../../shared/db.ts";
import { ApiError, errorMessage } from "../../../shared/errors.ts";
import { classify, injectCacheStats, NO_CACHE, normalizeSplit, readCandidates, scrubCacheStats, type CacheStats, type Classification, type LiveEntry } from "../../../shared/prompt-cache/classify.ts";
import { CacheControlError, parsePrompt, TIER_SECONDS, type ParsedPrompt, type Tier } from "../../../shared/prompt-cache/markers.ts";
import { blockText, prefixHashes } from "../../../shared/prompt-cache/prefix.ts";
import { BUILTIN_TOKENIZER_VERSION, cumulativeTokens } from "../../../shared/prompt-cache/tokenizer.ts";
import { tokenizeSegments, tokenizerVersionFor } from "../../../shared/prompt-cache/tokenizer-service.ts";
import { TtlCache } from "../../../shared/ttl-cache.ts";
import type { GatewayConfig } from "./config.ts";
import type { Meter } from "./meter.ts";
import type { ModelRecord } from "./lookups.ts";
import { builtinCounter } from "./tokenizer.ts";
import type { GatewayApp } from "./types.ts";

type Ctx = Context<GatewayApp>;

/**
 * Per-isolate knowledge that keeps the warm path off Postgres:
 *  - token counts by prefix hash (a hash fixes the whole prefix, so its count never changes);
 *  - index entries this isolate knows to be live, with their expiry and last slide.
 * The index is only skipped when the deepest candidate prefix is known live: no longer match
 * can exist, so the read is exact. Anything less goes to Postgres.
 */
const tokenCounts = new TtlCache<number>(50_000);
const TOKEN_COUNT_TTL_MS = 3_600_000;
interface KnownEntry {
  tier: Tier;
  expiresAt: number;
  slidAt: number;
}
const knownLive = new TtlCache<KnownEntry>(50_000);
/** A read slides the entry's expiry in Postgres at most once per this fraction of its TTL. */
const SLIDE_EVERY_FRACTION = 0.1;

const liveKey = (scope: CacheScope, version: string, hash: string) => `${scope.principalId}|${scope.alias}|${version}|${hash}`;

function rememberLive(scope: CacheScope, version: string, hash: string, tier: Tier, now: number, slidAt = now): void {
  const ttlMs = TIER_SECONDS[tier] * 1000;
  knownLive.set(liveKey(scope, version, hash), { tier, expiresAt: now + ttlMs, slidAt }, ttlMs, now);
}

/** A tokenizer service's version per (service, alias): asked once a minute per isolate. */
const serviceVersions = new TtlCache<string>(1_000);
const SERVICE_VERSION_TTL_MS = 60_000;

/**
 * Cumulative tokens per block and the tokenizer version they were counted with (the index's
 * scope). Blocks whose prefix this isolate has already counted are not counted again; with an
 * external tokenizer service, a prompt it has fully seen needs no call at all.
 */
async function countPrefix(scope: CacheScope, parsed: ParsedPrompt, hashes: readonly string[], signal: AbortSignal): Promise<{ version: string; cumulative: number[] }> {
  const now = Date.now();
  if (!scope.tokenizerUrl) {
    const key = (i: number) => `${BUILTIN_TOKENIZER_VERSION}|${hashes[i]}`;
    const cumulative = await cumulativeTokens(parsed.blocks, builtinCounter, signal, {
      get: (i) => tokenCounts.get(key(i), now),
      set: (i, total) => tokenCounts.set(key(i), total, TOKEN_COUNT_TTL_MS, now),
    });
    return { version: BUILTIN_TOKENIZER_VERSION, cumulative };
  }
  const url = scope.tokenizerUrl;
  const versionKey = `${url}|${scope.alias}`;
  let version = serviceVersions.get(versionKey, now);
  if (version === undefined) {
    version = await tokenizerVersionFor(url, scope.alias, signal);
    serviceVersions.set(versionKey, version, SERVICE_VERSION_TTL_MS, now);
  }
  const key = (i: number) => `${version}|${hashes[i]}`;
  const known = hashes.map((_, i) => tokenCounts.get(key(i), now));
  if (known.every((n) => n !== undefined)) return { version, cumulative: known as number[] };
  const counted = await tokenizeSegments(url, scope.alias, parsed.blocks.map(blockText), version, signal);
  counted.cumulative.forEach((total, i) => tokenCounts.set(key(i), total, TOKEN_COUNT_TTL_MS, now));
  return { version, cumulative: counted.cumulative };
}

export interface CacheScope {
  principalId: string;
  alias: string;
  minPrefixTokens: number;
  /** The deployment's tokenizer service, or null for the built-in tokenizer. */
  tokenizerUrl: string | null;
}

/** A classification and the tokenizer version its index entries are scoped by. */
export interface ScopedClassification extends Classification {
  tokenizerVersion: string;
}

const INACTIVE: ScopedClassification = { stats: NO_CACHE, writes: [], slide: null, tokenizerVersion: BUILTIN_TOKENIZER_VERSION };

export interface ClassifyJob {
  /** Resolves to the classification, or to "nothing cached" on any failure or the deadline. */
  result: Promise<ScopedClassification>;
  /** Stops the work (client gone): nothing will be committed. */
  abort(): void;
}

/** Test hook: an extra delay before classify resolves, to prove nothing waits on it. */
let testDelayMs = 0;
export function setClassifyDelayForTests(ms: number): void {
  testDelayMs = ms;
}

export function startClassify(parsed: ParsedPrompt, scope: CacheScope, config: GatewayConfig): ClassifyJob {
  const controller = new AbortController();
  const work = (async (): Promise<ScopedClassification> => {
    if (testDelayMs > 0) await new Promise((r) => setTimeout(r, testDelayMs));
    const hashes = await prefixHashes(parsed.blocks);
    const { version, cumulative } = await countPrefix(scope, parsed, hashes, controller.signal);
    const positions = readCandidates(parsed.breakpoints);
    const deepest = hashes[positions[positions.length - 1]!]!;
    const now = Date.now();
    const known = knownLive.get(liveKey(scope, version, deepest), now);
    if (known && known.expiresAt > now) {
      const result = classify(parsed.breakpoints, cumulative, hashes, new Map([[deepest, { tier: known.tier }]]), scope.minPrefixTokens);
      return { ...result, tokenizerVersion: version };
    }
    const candidates = positions.map((i) => hashes[i]!);
    const live = await withPool(config, async (pool) => {
      const { rows } = await pool.query<{ prefix_hash: string; tier: Tier }>(
        `SELECT prefix_hash, tier FROM prompt_cache_entries
          WHERE principal_id = $1 AND model_alias = $2 AND tokenizer_version = $3
            AND prefix_hash = ANY($4::text[]) AND expires_at > now()`,
        [scope.principalId, scope.alias, version, candidates],
      );
      return new Map<string, LiveEntry>(rows.map((r) => [r.prefix_hash, { tier: r.tier }]));
    });
    if (controller.signal.aborted) return INACTIVE;
    return { ...classify(parsed.breakpoints, cumulative, hashes, live, scope.minPrefixTokens), tokenizerVersion: version };
  })();

  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<ScopedClassification>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error("classify deadline"));
      resolve(INACTIVE);
    }, config.CACHE_CLASSIFY_DEADLINE_MS);
  });
  const result = Promise.race([
    work.catch((err: unknown) => {
      if (!controller.signal.aborted) console.warn(`prompt-cache classify failed, billing uncached: ${errorMessage(err)}`);
      return INACTIVE;
    }),
    deadline,
  ]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
  return { result, abort: () => controller.abort(new Error("client disconnected")) };
}

/** Writes new entries and slides the read one; bounded by the commit deadline, failures logged. */
export async function commitIndex(c: ScopedClassification, scope: CacheScope, config: GatewayConfig): Promise<void> {
  const now = Date.now();
  const version = c.tokenizerVersion;
  let slide = c.slide;
  let slideTier: Tier = "5m";
  if (slide) {
    const known = knownLive.get(liveKey(scope, version, slide.prefixHash), now);
    slideTier = known?.tier ?? (Object.keys(TIER_SECONDS) as Tier[]).find((t) => TIER_SECONDS[t] === slide!.expiresInSeconds) ?? "5m";
    // Slid recently enough: the stored expiry lags the true slide by under 10% of its TTL.
    if (known && now - known.slidAt < slide.expiresInSeconds * 1000 * SLIDE_EVERY_FRACTION) slide = null;
  }
  c = { ...c, slide };
  if (c.writes.length === 0 && !c.slide) return;
  const work = withPool(config, async (pool) => {
    if (c.writes.length > 0) {
      await pool.query(
        `INSERT INTO prompt_cache_entries (principal_id, model_alias, tokenizer_version, prefix_hash, prefix_tokens, tier, expires_at)
         SELECT $1, $2, $3, w.hash, w.tokens, w.tier, now() + make_interval(secs => w.secs)
           FROM UNNEST($4::text[], $5::int[], $6::text[], $7::int[]) AS w(hash, tokens, tier, secs)
         ON CONFLICT (principal_id, model_alias, tokenizer_version, prefix_hash)
         DO UPDATE SET expires_at = GREATEST(prompt_cache_entries.expires_at, EXCLUDED.expires_at),
                       tier = EXCLUDED.tier, prefix_tokens = EXCLUDED.prefix_tokens`,
        [
          scope.principalId,
          scope.alias,
          version,
          c.writes.map((w) => w.prefixHash),
          c.writes.map((w) => w.prefixTokens),
          c.writes.map((w) => w.tier),
          c.writes.map((w) => w.expiresInSeconds),
        ],
      );
    }
    if (c.slide) {
      await pool.query(
        `UPDATE prompt_cache_entries
            SET expires_at = GREATEST(expires_at, now() + make_interval(secs => $5)), last_read_at = now()
          WHERE principal_id = $1 AND model_alias = $2 AND tokenizer_version = $3 AND prefix_hash = $4`,
        [scope.principalId, scope.alias, version, c.slide.prefixHash, c.slide.expiresInSeconds],
      );
    }
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), config.CACHE_COMMIT_DEADLINE_MS);
  });
  try {
    if ((await Promise.race([work, deadline])) === "timeout") {
      console.warn("prompt-cache index commit timed out; the entry is simply not cached");
      return;
    }
    // Only what Postgres accepted becomes local knowledge (a failed write is never billed as a read).
    // A fresh write counts as never slid, so its first read slides it.
    for (const w of c.writes) rememberLive(scope, version, w.prefixHash, w.tier, now, 0);
    if (c.slide) rememberLive(scope, version, c.slide.prefixHash, slideTier, now);
  } catch (err) {
    console.warn(`prompt-cache index commit failed: ${errorMessage(err)}`);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * The prompt-cache side of one chat completion (or a Responses request served over chat): markers validated and stripped before anything
 * is forwarded, classify forked when the model caches, and the usage object rewritten with the
 * split (or scrubbed of the provider's cache fields when the model does not cache).
 */
export class CacheAccounting {
  private job: ClassifyJob | null = null;
  private classification: ScopedClassification | null = null;
  private split: CacheStats = NO_CACHE;

  constructor(
    private readonly scope: CacheScope | null,
    private readonly meter: Meter,
  ) {}

  static prepare(c: Ctx, body: Record<string, unknown>, model: ModelRecord, principalId: string): { forwarded: Record<string, unknown>; cache: CacheAccounting } {
    const config = c.get("config");
    let parsed;
    try {
      parsed = parsePrompt(body, { enabled: config.CACHE_ENABLED_TIERS, defaultTtl: config.CACHE_DEFAULT_TTL });
    } catch (err) {
      if (err instanceof CacheControlError) throw new ApiError("invalid_cache_control", err.message, { param: err.param });
      throw err;
    }
    const scope = model.cache ? { principalId, alias: model.alias, minPrefixTokens: model.cache.minPrefixTokens, tokenizerUrl: model.tokenizerUrl } : null;
    const cache = new CacheAccounting(scope, c.get("meter"));
    if (scope && parsed.breakpoints.length > 0) cache.job = startClassify(parsed, scope, config);
    return { forwarded: parsed.stripped, cache };
  }

  /** The usage object the client sees; records the split for billing. */
  async rewrite(usage: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.scope) return scrubCacheStats(usage);
    this.classification = this.job ? await this.job.result : null;
    const prompt = typeof usage.prompt_tokens === "number" ? usage.prompt_tokens : 0;
    const split: CacheStats = normalizeSplit(this.classification?.stats ?? NO_CACHE, prompt);
    this.split = split;
    this.meter.cached({ read_tokens: split.read, write_5m_tokens: split.write5m, write_1h_tokens: split.write1h, write_24h_tokens: split.write24h });
    return injectCacheStats(usage, split);
  }

  abort(): void {
    this.job?.abort();
  }

  /** After a billable success: commit the index write, off the response path. */
  commit(c: Ctx): void {
    const split = this.split;
    const trusted = split.read + split.write5m + split.write1h + split.write24h > 0;
    if (this.scope && this.classification && trusted) c.executionCtx.waitUntil(commitIndex(this.classification, this.scope, c.get("config")));
  }
}

