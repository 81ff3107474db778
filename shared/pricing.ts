/**
 * Pricing, pure: which tariff applies to a request, what it costs, where it came from, and whether
 * a balance change crossed zero. Money is decimal.js from the database's NUMERIC text to the text
 * written back — never a JS float — so a charge is exact to the last digit Postgres stores.
 *
 * Instants are epoch microseconds (Postgres' own resolution), so a tariff that changes at
 * 12:00:00.000500 is told apart from a request at 12:00:00.000.
 */
import Decimal from "decimal.js";
import type { CacheSplit, UsageMessageV1 } from "./usage-message.ts";

/**
 * The constructor for money. Products of a token count (≤ 2^53) and a price are exact well within
 * 60 significant digits, so nothing is ever rounded here; NUMERIC keeps whatever we send.
 */
export const Money = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -60, toExpPos: 60 });
export type Money = Decimal;

/** Exact text for a NUMERIC parameter or an assertion: no exponent, no trailing zeros. */
export function moneyText(value: Decimal): string {
  return value.toFixed();
}

/** A decimal as text (what Postgres returns for NUMERIC), or an existing Decimal. Never a float. */
export type DecimalInput = string | Decimal;

const money = (v: DecimalInput): Decimal => new Money(v);

// ---------------------------------------------------------------------------------------------
// Instants
// ---------------------------------------------------------------------------------------------

const FRACTION = /T\d{2}:\d{2}:\d{2}[.,](\d+)/;

/**
 * Epoch microseconds of an ISO 8601 timestamp, keeping digits below the millisecond that
 * `Date.parse` drops. Throws on text that is not a timestamp (the queue schema has checked it).
 *
 * @example epochMicros("2025-01-01T00:00:00.000250Z") === 1735689600000250
 */
export function epochMicros(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`not a timestamp: ${iso}`);
  const fraction = FRACTION.exec(iso)?.[1] ?? "";
  const belowMs = Number(fraction.slice(3, 6).padEnd(3, "0"));
  return ms * 1000 + belowMs;
}

/** Epoch microseconds of a Date (millisecond resolution). */
export function dateMicros(date: Date): number {
  return date.getTime() * 1000;
}

// ---------------------------------------------------------------------------------------------
// Tariff selection (ARCHITECTURE §4, the reference's find_best_tariff)
// ---------------------------------------------------------------------------------------------

export interface Tariff {
  /** realtime | batch | playground (the purposes a tariff may name). */
  purpose: string;
  /** The batch completion window it applies to (e.g. "24h"); null = generic for the purpose. */
  completionWindow: string | null;
  inputPricePerToken: Decimal;
  outputPricePerToken: Decimal;
  validFromUs: number;
  /** Exclusive end; null = still current. */
  validUntilUs: number | null;
}

/** Builds a Tariff from the database's text columns (NUMERIC as text, instants as µs). */
export function tariffFromRow(row: {
  purpose: string;
  completionWindow: string | null;
  inputPricePerToken: DecimalInput;
  outputPricePerToken: DecimalInput;
  validFromUs: number | string;
  validUntilUs: number | string | null;
}): Tariff {
  return {
    purpose: row.purpose,
    completionWindow: row.completionWindow,
    inputPricePerToken: money(row.inputPricePerToken),
    outputPricePerToken: money(row.outputPricePerToken),
    validFromUs: Number(row.validFromUs),
    validUntilUs: row.validUntilUs === null ? null : Number(row.validUntilUs),
  };
}

export function isTariffValidAt(tariff: Tariff, atUs: number): boolean {
  return tariff.validFromUs <= atUs && (tariff.validUntilUs === null || tariff.validUntilUs > atUs);
}

/**
 * The tariff that prices a request, or null (free: no charge). Among the tariffs valid at `atUs`:
 * the exact (purpose, completion window) → the purpose's generic tariff (no window) → the generic
 * realtime tariff. A missing purpose (unknown or no key) prices as realtime. An unknown window
 * falls back to the generic tariff, never to another window's price.
 */
export function findBestTariff(
  tariffs: readonly Tariff[],
  purpose: string | null | undefined,
  completionWindow: string | null | undefined,
  atUs: number,
): Tariff | null {
  const wanted = purpose ?? "realtime";
  const valid = tariffs.filter((t) => isTariffValidAt(t, atUs));
  if (completionWindow) {
    const exact = valid.find((t) => t.purpose === wanted && t.completionWindow === completionWindow);
    if (exact) return exact;
  }
  const generic = valid.find((t) => t.purpose === wanted && t.completionWindow === null);
  if (generic) return generic;
  if (wanted !== "realtime") {
    const realtime = valid.find((t) => t.purpose === "realtime" && t.completionWindow === null);
    if (realtime) return realtime;
  }
  return null;
}

/**
 * When a request is priced: a batch request at its batch's creation (the price the customer saw
 * when submitting), anything else when it arrived.
 */
export function pricingInstantUs(message: Pick<UsageMessageV1, "timestamp" | "batch">): number {
  return epochMicros(message.batch?.created_at ?? message.timestamp);
}

// ---------------------------------------------------------------------------------------------
// Cost
// ---------------------------------------------------------------------------------------------

/**
 * Prompt-cache price multipliers of the input price (model_cache_tariffs). A null write tier is a
 * disabled tier: tokens reported in it are billed at list price.
 */
export interface CacheMultipliers {
  read: DecimalInput;
  write5m: DecimalInput | null;
  write1h: DecimalInput | null;
  write24h: DecimalInput | null;
}

export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
  cache: CacheSplit;
}

export interface Cost {
  /** What the customer pays. */
  totalCost: Decimal;
  /** The list price: every prompt token at the input price (what it would cost without caching). */
  uncachedCost: Decimal;
}

/**
 * cost = uncached × in + read × in × read_mult + Σ_tier write_tier × in × write_mult_tier
 *        + completion × out,  uncached = prompt − read − Σ writes
 *
 * The split comes from the gateway's index and is checked against the provider's prompt count:
 * reads are capped so that reads + writes never exceed the prompt (a prompt is never billed for
 * more tokens than it had), and a split whose writes alone exceed the prompt is not trusted at all
 * — the request is billed at list price. Without multipliers (no cache tariff in force) caching
 * changes nothing: the whole prompt is billed at the input price and total = uncached cost.
 *
 * @example
 *   computeCost({ promptTokens: 1000, completionTokens: 500, cache: ZERO_CACHE },
 *               { inputPricePerToken: new Money("0.00001"), outputPricePerToken: new Money("0.00003") })
 *   // → totalCost 0.025, uncachedCost 0.025
 */
export function computeCost(
  tokens: TokenCounts,
  prices: { inputPricePerToken: Decimal; outputPricePerToken: Decimal },
  multipliers?: CacheMultipliers | null,
): Cost {
  const parts = costBreakdown(tokens, prices, multipliers);
  return { totalCost: parts.total, uncachedCost: parts.uncached };
}

/** What each kind of token cost: computeCost's total, split into the parts that make it up. */
export interface CostBreakdown {
  /** Prompt tokens billed at the input price (neither read from nor written to the cache). */
  input: Decimal;
  cacheRead: Decimal;
  cacheWrite5m: Decimal;
  cacheWrite1h: Decimal;
  cacheWrite24h: Decimal;
  output: Decimal;
  /** input + cache parts + output: what the customer pays. */
  total: Decimal;
  /** The list price: every prompt token at the input price, plus the output. */
  uncached: Decimal;
}

/**
 * computeCost, part by part (the console's cost breakdown shows these; their sum is the charge).
 * A distrusted split (writes alone exceed the prompt) or no cache tariff puts the whole prompt in
 * `input`, with every cache part zero.
 */
export function costBreakdown(
  tokens: TokenCounts,
  prices: { inputPricePerToken: Decimal; outputPricePerToken: Decimal },
  multipliers?: CacheMultipliers | null,
): CostBreakdown {
  const input = money(prices.inputPricePerToken);
  const output = money(prices.outputPricePerToken).times(tokens.completionTokens);
  const listInput = input.times(tokens.promptTokens);
  const uncachedCost = listInput.plus(output);
  const zero = new Money(0);
  const { write_5m_tokens: w5m, write_1h_tokens: w1h, write_24h_tokens: w24h } = tokens.cache;
  const writes = w5m + w1h + w24h;
  if (!multipliers || writes > tokens.promptTokens) {
    return { input: listInput, cacheRead: zero, cacheWrite5m: zero, cacheWrite1h: zero, cacheWrite24h: zero, output, total: uncachedCost, uncached: uncachedCost };
  }
  const read = Math.min(tokens.cache.read_tokens, tokens.promptTokens - writes);
  const uncached = tokens.promptTokens - read - writes;
  const tier = (count: number, multiplier: DecimalInput | null) => input.times(count).times(multiplier === null ? 1 : money(multiplier));
  const parts = {
    input: input.times(uncached),
    cacheRead: tier(read, multipliers.read),
    cacheWrite5m: tier(w5m, multipliers.write5m),
    cacheWrite1h: tier(w1h, multipliers.write1h),
    cacheWrite24h: tier(w24h, multipliers.write24h),
    output,
  };
  const total = parts.input.plus(parts.cacheRead).plus(parts.cacheWrite5m).plus(parts.cacheWrite1h).plus(parts.cacheWrite24h).plus(parts.output);
  return { ...parts, total, uncached: uncachedCost };
}

/** A model_cache_tariffs row: its multipliers and when they applied (µs; exclusive end). */
export interface CacheTariff {
  multipliers: CacheMultipliers;
  validFromUs: number;
  validUntilUs: number | null;
}

/** A model_cache_tariffs row as the lookups read it (multipliers as NUMERIC text, instants as µs). */
export interface CacheTariffRow {
  read: string;
  write5m: string | null;
  write1h: string | null;
  write24h: string | null;
  validFromUs: string | number;
  validUntilUs: string | number | null;
}

export function cacheTariffFromRow(row: CacheTariffRow): CacheTariff {
  return {
    multipliers: { read: row.read, write5m: row.write5m, write1h: row.write1h, write24h: row.write24h },
    validFromUs: Number(row.validFromUs),
    validUntilUs: row.validUntilUs === null ? null : Number(row.validUntilUs),
  };
}

/** The cache tariff in force at `atUs` (the latest-starting one, should rows ever overlap), or null. */
export function findCacheTariff(tariffs: readonly CacheTariff[], atUs: number): CacheTariff | null {
  let best: CacheTariff | null = null;
  for (const t of tariffs) {
    if (t.validFromUs <= atUs && (t.validUntilUs === null || t.validUntilUs > atUs) && (!best || t.validFromUs > best.validFromUs)) best = t;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// One request, priced
// ---------------------------------------------------------------------------------------------

export interface PricedUsage {
  tariff: Tariff;
  cost: Cost;
}

/**
 * Prices one usage message against its model's tariffs and cache tariffs (all of them, expired
 * included, so a batch created last month pays last month's prices). Null when no tariff applies:
 * the request is free. A request of a batch (a batch id: the Batches API's runner, or a batch
 * runner's headers) is priced at the `batch` tariffs whatever key submitted the batch.
 */
export function priceUsage(
  message: Pick<UsageMessageV1, "timestamp" | "batch" | "usage" | "cache">,
  keyPurpose: string | null | undefined,
  tariffs: readonly Tariff[],
  cacheTariffs: readonly CacheTariff[] = [],
): PricedUsage | null {
  const at = pricingInstantUs(message);
  const purpose = message.batch?.batch_id ? "batch" : keyPurpose;
  const tariff = findBestTariff(tariffs, purpose, message.batch?.completion_window, at);
  if (!tariff) return null;
  const cost = computeCost(
    { promptTokens: message.usage.prompt_tokens, completionTokens: message.usage.completion_tokens, cache: message.cache },
    tariff,
    findCacheTariff(cacheTariffs, at)?.multipliers,
  );
  return { tariff, cost };
}

// ---------------------------------------------------------------------------------------------
// Request origin
// ---------------------------------------------------------------------------------------------

export type RequestOrigin = "fusillade" | "frontend" | "api";

/** Any batch id or a `batch` key → fusillade; a `playground` key → frontend; else api. */
export function requestOrigin(purpose: string | null | undefined, batchId: string | null | undefined): RequestOrigin {
  if (batchId || purpose === "batch") return "fusillade";
  if (purpose === "playground") return "frontend";
  return "api";
}

// ---------------------------------------------------------------------------------------------
// Balance crossings
// ---------------------------------------------------------------------------------------------

export type CrossingDirection = "depleted" | "restored";

export interface BalanceCrossing {
  userId: string;
  direction: CrossingDirection;
  /** Balances as exact decimal text. */
  before: string;
  after: string;
}

/**
 * Whether a balance change crosses zero: from > 0 to ≤ 0 is a depletion, from ≤ 0 to > 0 a
 * restoration; anything else (staying on one side) is no news. Evaluated once per committed change
 * under the checkpoint's row lock, so each crossing is reported exactly once.
 */
export function balanceCrossing(before: DecimalInput, after: DecimalInput): CrossingDirection | null {
  const wasPositive = money(before).gt(0);
  const isPositive = money(after).gt(0);
  if (wasPositive && !isPositive) return "depleted";
  if (!wasPositive && isPositive) return "restored";
  return null;
}

/** The crossings among a set of folded balance changes, in the order given. */
export function balanceCrossings(changes: readonly { userId: string; before: DecimalInput; after: DecimalInput }[]): BalanceCrossing[] {
  const out: BalanceCrossing[] = [];
  for (const c of changes) {
    const direction = balanceCrossing(c.before, c.after);
    if (direction) out.push({ userId: c.userId, direction, before: moneyText(money(c.before)), after: moneyText(money(c.after)) });
  }
  return out;
}
