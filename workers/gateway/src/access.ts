/**
 * Who may call what: the API key, the model route, group access and credit, answered from
 * per-isolate caches (TTL `ACCESS_CACHE_TTL_MS`) with one Postgres read-through on a miss. A key
 * deleted or a balance depleted takes effect within one TTL.
 *
 * Unknown key hashes are cached too: a freshly created key cannot be among them (its hash was
 * never presented before it existed), so it still works on its first request.
 *
 * Refresh ahead: once an entry is older than half the TTL, the next request that uses it starts
 * one background re-read (at most one per key and model per isolate), once its own answer is on
 * its way (after-answer.ts), and is itself answered from the cache. Under steady traffic entries are renewed before they expire, so requests do not all
 * miss together at expiry and open a Postgres connection each, which at a few hundred requests a
 * second exhausts the server's connections.
 *
 * One read per pair at a time: while a refresh or a read-through of a key and model is under way
 * in the isolate, other requests for the pair whose entries have expired are answered from them
 * for up to one more TTL rather than each opening a connection (when Postgres is slow to answer,
 * such a pile-up exhausts its connections). So an answer is normally at most one TTL old,
 * and never more than two. With nothing that recent to serve (a cold isolate hit by a burst), the
 * others wait for that read instead of each starting their own.
 *
 * Stale-if-error: every read is bounded (DB_CONNECT_TIMEOUT_MS, DB_QUERY_TIMEOUT_MS, and a deadline
 * over both). While Postgres is failing, what the isolate has seen is answered from the cache for
 * up to ACCESS_STALE_IF_ERROR_MS past expiry, without waiting on the database (a background read
 * per pair, at most one a second, notices its return); what it has not seen is a 503 with
 * Retry-After, metered as `database_unavailable`.
 */
import { hashApiKey } from "../../../shared/api-keys.ts";
import { createPool, DatabaseUnavailableError, isDatabaseUnavailable, withDeadline, type Pool } from "../../../shared/db.ts";
import { ApiError, errorMessage } from "../../../shared/errors.ts";
import { dateMicros, findBestTariff, isTariffValidAt } from "../../../shared/pricing.ts";
import { TtlCache } from "../../../shared/ttl-cache.ts";
import type { GatewayConfig } from "./config.ts";
import type { Meter } from "./meter.ts";
import { lookupAccess, type AccessRow, type KeyRecord, type ModelRecord } from "./lookups.ts";

const keys = new TtlCache<KeyRecord | null>();
const models = new TtlCache<ModelRecord>();
const allowedPairs = new TtlCache<boolean>();
const credit = new TtlCache<boolean>();
/**
 * `hash|alias` pairs being read from Postgres in this isolate (a refresh or a read-through), with
 * when the read started. A read older than one TTL counts as lost (its request may have been
 * cancelled before its `finally` ran), so a stuck entry can never hold a pair back.
 */
const reading = new Map<string, number>();
const isReading = (pair: string, now: number, ttl: number) => now - (reading.get(pair) ?? -Infinity) < ttl;

/**
 * This isolate's view of Postgres: when a read last failed for want of the database, and when one
 * last succeeded. It is failing while the latest outcome is a failure.
 */
const health = { failedAt: -Infinity, succeededAt: -Infinity };
const databaseFailing = () => health.failedAt > health.succeededAt;
/** After a failure, requests with nothing cached are refused at once for this long, not each left to time out. */
const DB_RETRY_INTERVAL_MS = 1_000;
/** The Retry-After of a 503 for want of the database (seconds). */
export const DB_RETRY_AFTER_S = 5;

/**
 * One access read, bounded: the pool's connect and query timeouts, and a deadline over both (the
 * driver's timers do not cover every stage of a WebSocket connection). Records the outcome.
 */
async function readAccess(pool: Pool, hash: string, alias: string, config: GatewayConfig): Promise<AccessRow> {
  try {
    const row = await withDeadline(lookupAccess(pool, hash, alias), config.DB_CONNECT_TIMEOUT_MS + config.DB_QUERY_TIMEOUT_MS, "access read");
    health.succeededAt = Date.now();
    return row;
  } catch (err) {
    if (isDatabaseUnavailable(err)) health.failedAt = Date.now();
    throw err;
  }
}

/** The 503 for a request that needed Postgres while it could not be reached. */
export function unavailable(err: unknown, log = true): ApiError {
  if (log) console.warn(`Postgres unavailable: ${errorMessage(err)}`);
  return new ApiError("service_unavailable", "The gateway cannot reach its database right now. Retry shortly.", { headers: { "retry-after": String(DB_RETRY_AFTER_S) } });
}

/** For tests that change access data and must not wait out the TTL. */
export function clearAccessCaches(): void {
  health.failedAt = -Infinity;
  health.succeededAt = -Infinity;
  keys.clear();
  models.clear();
  allowedPairs.clear();
  credit.clear();
  reading.clear();
}

export function bearerToken(header: string | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1] ?? null;
}

export interface Resolved {
  key: KeyRecord;
  model: ModelRecord;
}

/**
 * Lazily opened database pool for the request; `close()` ends it (if it was opened) off the
 * response path.
 */
export class RequestDb {
  private pool: Pool | null = null;
  constructor(private readonly config: GatewayConfig) {}
  get(): Pool {
    this.pool ??= createPool(this.config);
    return this.pool;
  }
  close(waitUntil: (p: Promise<unknown>) => void): void {
    if (this.pool) waitUntil(this.pool.end());
  }
}

async function keyHashFrom(authorization: string | undefined): Promise<string> {
  const token = bearerToken(authorization);
  if (!token) throw new ApiError("invalid_api_key", "Missing API key. Send it as 'Authorization: Bearer tg-…'.");
  return hashApiKey(token);
}

/** The key for a hash, from the cache or Postgres; null when unknown or deleted. */
export async function authenticateKeyOnly(hash: string, db: RequestDb, config: GatewayConfig): Promise<KeyRecord | null> {
  const now = Date.now();
  let key = keys.get(hash, now);
  if (key === undefined) {
    try {
      key = (await readAccess(db.get(), hash, "", config)).key;
      keys.set(hash, key, config.ACCESS_CACHE_TTL_MS, now);
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      key = keys.stale(hash, Date.now(), config.ACCESS_STALE_IF_ERROR_MS);
      if (key === undefined) throw unavailable(err);
    }
  }
  return key;
}

/** Authenticates an inference key (no model yet: GET /ai/v1/models). */
export async function authenticateInference(authorization: string | undefined, db: RequestDb, config: GatewayConfig, meter?: Meter): Promise<KeyRecord> {
  return checkKey(await authenticateKeyOnly(await keyHashFrom(authorization), db, config), meter);
}

function checkKey(key: KeyRecord | null, meter: Meter | undefined): KeyRecord {
  if (!key) {
    meter?.unknownKey();
    throw new ApiError("invalid_api_key", "Incorrect API key provided, or the key has been deleted.");
  }
  meter?.identified(key);
  if (key.purpose === "platform") {
    throw new ApiError("permission_denied", "This is a platform (admin) key; inference needs a realtime, batch or playground key.");
  }
  return key;
}

/**
 * Authenticates the key (a bearer `authorization` header, or the batch runner's key hash) and
 * resolves the model alias, applying the gates in order:
 * 401 key → 404 model → 403 access → 402 credit (priced models only).
 */
export async function resolveInference(
  authorization: string | undefined | { keyHash: string },
  alias: string,
  db: RequestDb,
  config: GatewayConfig,
  meter: Meter,
  /** Starts a refresh-ahead read off the request's path (after-answer.ts); none: no refresh. */
  background?: (task: () => Promise<void>) => void,
): Promise<Resolved> {
  // The batch runner names its key by hash (it never holds the secret).
  const hash = typeof authorization === "object" ? authorization.keyHash : await keyHashFrom(authorization);
  const now = Date.now();
  const ttl = config.ACCESS_CACHE_TTL_MS;
  const pair = `${hash}|${alias}`;
  let key = keys.get(hash, now);
  let model = models.get(alias, now);
  let allowed = key && model ? allowedPairs.get(`${key.userId}:${model.modelId}`, now) : undefined;
  let hasCredit = key ? credit.get(key.userId, now) : undefined;

  if (key === undefined || model === undefined || (key && (allowed === undefined || hasCredit === undefined))) {
    // Postgres failing: what this isolate has seen is served from its cache (stale-if-error, up to
    // ACCESS_STALE_IF_ERROR_MS) without waiting on a database that is not answering; one
    // background read per pair at a time finds out when it is back.
    const lastGood = databaseFailing() ? staleAccess(hash, alias, now, config.ACCESS_STALE_IF_ERROR_MS) : null;
    if (lastGood) {
      ({ key, model, allowed, hasCredit } = lastGood);
      if (background && !isReading(pair, now, ttl) && now - health.failedAt >= DB_RETRY_INTERVAL_MS) refreshAhead(hash, alias, config, background);
    } else {
      // Someone in this isolate is already reading this pair: answer from the values that just
      // expired (at most one TTL ago) or, with nothing that recent (a cold or long-idle isolate),
      // wait for that read, instead of opening one more connection. When reads are slow or a burst
      // meets a cold isolate, that is what keeps it from opening a connection per request.
      const shared = isReading(pair, now, ttl) ? (staleAccess(hash, alias, now, ttl) ?? (await awaitOtherRead(hash, alias, pair, ttl))) : null;
      if (shared) {
        ({ key, model, allowed, hasCredit } = shared);
      } else {
        // Not `now`: a request that waited for another's read in vain reads from this moment.
        const started = Date.now();
        // Postgres failed moments ago and nothing is cached to answer with: say so at once.
        const failedJustNow = databaseFailing() && started - health.failedAt < DB_RETRY_INTERVAL_MS;
        try {
          if (failedJustNow) throw new DatabaseUnavailableError("Postgres failed less than a second ago");
          reading.set(pair, started);
          ({ key, model, allowed, hasCredit } = remember(hash, alias, await readAccess(db.get(), hash, alias, config), ttl, started));
        } catch (err) {
          if (!isDatabaseUnavailable(err)) throw err;
          const stale = staleAccess(hash, alias, Date.now(), config.ACCESS_STALE_IF_ERROR_MS);
          if (!stale) {
            meter.databaseUnavailable();
            throw unavailable(err, !failedJustNow);
          }
          ({ key, model, allowed, hasCredit } = stale);
        } finally {
          if (!failedJustNow) reading.delete(pair);
        }
      }
    }
  } else if (key && background && Math.max(keys.age(hash, now) ?? 0, models.age(alias, now) ?? 0) * 2 >= ttl && !isReading(pair, now, ttl)) {
    // Unknown keys are never refreshed: a hash that matched no key cannot start matching one.
    refreshAhead(hash, alias, config, background);
  }

  const k = checkKey(key, meter);
  if (!model) {
    throw new ApiError("model_not_found", `The model '${alias}' does not exist. GET /ai/v1/models lists the models your key can use.`, { param: "model" });
  }
  if (!allowed) {
    throw new ApiError("model_access_denied", `Your key does not have access to the model '${alias}'.`, { param: "model" });
  }
  // The batch runner's requests are priced as batch requests whatever the key's purpose.
  const pricedAs = typeof authorization === "object" ? "batch" : k.purpose;
  if (!hasCredit && needsCredit(model, pricedAs, dateMicros(new Date()))) {
    throw new ApiError("insufficient_credits", "Your credit balance is exhausted. Top up your credits to keep using this model.");
  }
  return { key: k, model };
}

/**
 * Whether a request of a key with `purpose` would be charged: the tariff the consumer's pricing
 * picks for it now (`findBestTariff`, the same rule) has a non-zero price. A batch key's completion
 * window is only known per request, so for it every window in force counts: credit is needed if any
 * of them (or the generic fallback) is priced.
 */
export function needsCredit(model: Pick<ModelRecord, "tariffs">, purpose: string, atUs: number): boolean {
  const windows = new Set<string | null>([null]);
  if (purpose === "batch") {
    for (const t of model.tariffs) if (t.purpose === purpose && t.completionWindow !== null && isTariffValidAt(t, atUs)) windows.add(t.completionWindow);
  }
  for (const window of windows) {
    const tariff = findBestTariff(model.tariffs, purpose, window, atUs);
    if (tariff && (tariff.inputPricePerToken.gt(0) || tariff.outputPricePerToken.gt(0))) return true;
  }
  return false;
}

/** The pair's last answer if every part of it expired less than `graceMs` ago, else null. */
function staleAccess(hash: string, alias: string, now: number, graceMs: number) {
  const key = keys.stale(hash, now, graceMs);
  const model = models.stale(alias, now, graceMs);
  if (key === undefined || model === undefined) return null;
  if (key === null) return { key, model, allowed: false, hasCredit: false };
  const allowed = allowedPairs.stale(`${key.userId}:${model.modelId}`, now, graceMs);
  const hasCredit = credit.stale(key.userId, now, graceMs);
  if (allowed === undefined || hasCredit === undefined) return null;
  return { key, model, allowed, hasCredit };
}

/**
 * When a request waiting for another request's read of the same pair looks at the cache: first
 * after 5 ms, then at doubling intervals up to 50 ms apart (a slow read does not cost a big burst
 * a timer per request every few milliseconds).
 */
const READ_POLL_FIRST_MS = 5;
const READ_POLL_MAX_MS = 50;

/**
 * Waits for the read of the pair that another request in this isolate has under way, watching the
 * cache on this request's own timer (no request ever awaits another request's promise). Returns
 * the pair's answer once that read has stored it; null when the read ended without one (it failed,
 * or the alias is unknown) or has run for longer than a TTL: the caller then reads for itself.
 */
async function awaitOtherRead(hash: string, alias: string, pair: string, ttl: number) {
  for (let wait = READ_POLL_FIRST_MS; ; wait = Math.min(wait * 2, READ_POLL_MAX_MS)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    const now = Date.now();
    const fresh = staleAccess(hash, alias, now, 0);
    if (fresh) return fresh;
    if (!isReading(pair, now, ttl)) return null;
  }
}

/** Stores one access row in the caches and returns what the gates need from it. */
function remember(hash: string, alias: string, row: AccessRow, ttl: number, now: number) {
  keys.set(hash, row.key, ttl, now);
  if (row.model) models.set(alias, row.model, ttl, now);
  if (row.key) {
    credit.set(row.key.userId, row.hasCredit, ttl, now);
    if (row.model) allowedPairs.set(`${row.key.userId}:${row.model.modelId}`, row.allowed, ttl, now);
  }
  return { key: row.key, model: row.model ?? undefined, allowed: row.allowed, hasCredit: row.hasCredit };
}

/**
 * Re-reads one key and model pair off the response path, on a pool of its own. The pair counts as
 * being read from now; the read itself is handed to `background`, which starts it once the
 * request's answer is on its way (after-answer.ts): opening a pool and a WebSocket is work enough
 * to delay the upstream call or the answer when done beside them.
 */
function refreshAhead(hash: string, alias: string, config: GatewayConfig, background: (task: () => Promise<void>) => void): void {
  const id = `${hash}|${alias}`;
  reading.set(id, Date.now());
  background(async () => {
    const pool = createPool(config);
    try {
      const now = Date.now();
      remember(hash, alias, await readAccess(pool, hash, alias, config), config.ACCESS_CACHE_TTL_MS, now);
    } catch (err) {
      // The entries simply expire and the next request reads through; nothing to surface here.
      console.warn(`access refresh failed: ${errorMessage(err)}`);
    } finally {
      reading.delete(id);
      await pool.end().catch(() => {});
    }
  });
}
