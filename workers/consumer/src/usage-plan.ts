/**
 * What one usage batch writes, decided without I/O: from the parsed messages and the two
 * enrichment lookups, the analytics rows (with prices and costs). The write (usage-writer.ts)
 * then stores them and charges the billable ones (shared/sql/usage-write.ts builds each ledger row
 * from its analytics row).
 */
import { moneyText, priceUsage, requestOrigin, type CacheTariff, type Tariff } from "../../../shared/pricing.ts";
import type { AnalyticsRow } from "../../../shared/sql/http-analytics.ts";
import type { UsageMessage } from "../../../shared/usage-message.ts";

export interface KeyOwner {
  userId: string;
  purpose: string;
}

export interface ModelPricing {
  /** The inference endpoint's name. */
  providerName: string | null;
  /** Every tariff the model ever had, expired ones included (historical pricing). */
  tariffs: Tariff[];
  /** Every prompt-cache tariff the model ever had (multipliers of the input price). */
  cacheTariffs: CacheTariff[];
}

export interface UsagePlan {
  rows: AnalyticsRow[];
  /** Records that cannot be billed for a reason an operator should see. */
  problems: string[];
}

/**
 * Prices every message. Unauthenticated and unknown-key records are priced (the row shows what
 * the request was worth) but have no owner, so they charge nobody; a zero cost charges nobody
 * either (the ledger holds positive amounts only).
 */
export function planUsageBatch(
  messages: readonly UsageMessage[],
  owners: ReadonlyMap<string, KeyOwner>,
  models: ReadonlyMap<string, ModelPricing>,
): UsagePlan {
  const rows: AnalyticsRow[] = [];
  const problems: string[] = [];
  for (const message of messages) {
    const owner = message.api_key_id ? owners.get(message.api_key_id.toLowerCase()) : undefined;
    const model = message.model === null ? undefined : models.get(message.model);
    const { prompt_tokens: prompt, completion_tokens: completion } = message.usage;
    if (message.model === null && (prompt > 0 || completion > 0)) {
      problems.push(`usage ${message.event_id} has ${prompt} prompt + ${completion} completion tokens but no model: not billed`);
    }
    const priced = model ? priceUsage(message, owner?.purpose, model.tariffs, model.cacheTariffs) : null;
    rows.push({
      message,
      userId: owner?.userId ?? null,
      providerName: model?.providerName ?? null,
      inputPricePerToken: priced ? moneyText(priced.tariff.inputPricePerToken) : null,
      outputPricePerToken: priced ? moneyText(priced.tariff.outputPricePerToken) : null,
      totalCost: priced ? moneyText(priced.cost.totalCost) : null,
      uncachedCost: priced ? moneyText(priced.cost.uncachedCost) : null,
      requestOrigin: requestOrigin(owner?.purpose, message.batch?.batch_id),
    });
  }
  return { rows, problems };
}

/**
 * Why a message that passed the schema still cannot be stored, or null. Postgres refuses NUL in
 * text and integers beyond bigint; such a message would fail its whole batch on every retry, so it
 * is dead-lettered on its own instead.
 */
export function unstorableReason(message: UsageMessage): string | null {
  const integers: [string, number | null][] = [
    ["duration_ms", message.duration_ms],
    ["ttfb_ms", message.ttfb_ms],
    ...Object.entries(message.usage),
    ...Object.entries(message.cache),
  ];
  for (const [name, value] of integers) {
    if (value !== null && value > Number.MAX_SAFE_INTEGER) return `${name} is too large to store`;
  }
  const hasNul = (value: unknown): boolean =>
    typeof value === "string" ? value.includes("\u0000") : typeof value === "object" && value !== null && Object.values(value).some(hasNul);
  if (hasNul(message)) return "a text field contains a NUL character, which Postgres cannot store";
  return null;
}

/** First occurrence of each event id wins: a batch may carry the same message twice. */
export function dedupeByEventId(messages: readonly UsageMessage[]): UsageMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => {
    const id = m.event_id.toLowerCase();
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
