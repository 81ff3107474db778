/**
 * Shared by the consumer's workerd tests: batches, delivery through the real entry, and the
 * users, models and messages the billing scenarios need.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { DbSettingsSchema } from "../../../shared/db.ts";
import { Money, moneyText } from "../../../shared/pricing.ts";
import type { ApiKeyPurpose } from "../../../shared/api-keys.ts";
import type { BatchInfo, UsageMessageV1 } from "../../../shared/usage-message.ts";
import worker from "../../../workers/consumer/src/index.ts";
import { handleUsageBatch, type UsageBatchResult } from "../../../workers/consumer/src/usage-batch.ts";
import { createKey, createModel, createTariff, createUser, grantCredits, type Queryable } from "../../support/db-fixtures.ts";
import { sampleMessage } from "../../support/samples.ts";

export const USAGE_QUEUE = "tollgate-usage";

let seq = 0;
export function batchOf(bodies: unknown[], attempts = 1, queue = USAGE_QUEUE): MessageBatch<unknown> {
  return createMessageBatch(
    queue,
    bodies.map((body) => ({ id: `msg-${++seq}-${crypto.randomUUID()}`, timestamp: new Date(), attempts, body })),
  );
}

/** Delivers through the worker's real entry and reports acks and retries. */
export async function deliver(batch: MessageBatch<unknown>, e: Cloudflare.Env = env) {
  const ctx = createExecutionContext();
  await worker.queue(batch, e, ctx);
  return getQueueResult(batch, ctx);
}

/** Delivers through the batch handler directly, for its result value (crossings, counts). */
export async function deliverForResult(batch: MessageBatch<unknown>): Promise<{ result: UsageBatchResult; queue: Awaited<ReturnType<typeof getQueueResult>> }> {
  const ctx = createExecutionContext();
  const result = await handleUsageBatch(batch, DbSettingsSchema.parse(env), { responsesBucket: env.RESPONSES_BUCKET });
  return { result, queue: await getQueueResult(batch, ctx) };
}

/** Exact decimal text without trailing zeros, so "99.90" and "99.9" compare equal — and nothing else does. */
export const exact = (value: string | null): string | null => (value === null ? null : moneyText(new Money(value)));

/** A user with `balance` granted through the ledger (nothing granted for "0"). */
export async function userWithBalance(db: Queryable, balance: string): Promise<string> {
  const userId = await createUser(db);
  if (new Money(balance).gt(0)) await grantCredits(db, userId, balance, "purchase");
  return userId;
}

export async function keyFor(db: Queryable, userId: string, purpose: ApiKeyPurpose = "realtime"): Promise<string> {
  return (await createKey(db, userId, purpose)).id;
}

export interface TariffSpec {
  purpose: "realtime" | "batch" | "playground";
  input: string;
  output: string;
  completionWindow?: string | null;
  validFrom?: string;
  validUntil?: string | null;
}

/** A model with the given tariffs; returns its alias and endpoint name. */
export async function pricedModel(db: Queryable, tariffs: TariffSpec[]): Promise<{ alias: string; provider: string; modelId: string }> {
  const model = await createModel(db, { url: "http://127.0.0.1:9/v1" });
  for (const t of tariffs) await createTariff(db, model.modelId, t);
  return { alias: model.alias, provider: `ep-${model.alias}`, modelId: model.modelId };
}

export function usage(model: string | null, apiKeyId: string | null, prompt: number, completion: number, overrides: Partial<UsageMessageV1> = {}): UsageMessageV1 {
  return sampleMessage({
    model,
    api_key_id: apiKeyId,
    access: apiKeyId ? "api_key" : "unauthenticated",
    usage: { prompt_tokens: prompt, completion_tokens: completion, reasoning_tokens: 0, total_tokens: prompt + completion, cached_tokens: 0 },
    ...overrides,
  });
}

export function batchInfo(overrides: Partial<BatchInfo> = {}): BatchInfo {
  return { batch_id: null, request_id: null, custom_id: null, completion_window: null, created_at: null, request_source: "", ...overrides };
}

export type AnalyticsView = {
  event_id: string;
  user_id: string | null;
  api_key_id: string | null;
  access_source: string;
  provider_name: string | null;
  input_price_per_token: string | null;
  output_price_per_token: string | null;
  total_cost: string | null;
  uncached_cost: string | null;
  request_origin: string;
  fusillade_batch_id: string | null;
  prompt_tokens: string;
};

export async function analyticsRows(db: Queryable, eventIds: string[]): Promise<AnalyticsView[]> {
  const { rows } = await db.query<AnalyticsView>(
    `SELECT event_id::text AS event_id, user_id::text AS user_id, api_key_id::text AS api_key_id, access_source, provider_name,
            input_price_per_token::text AS input_price_per_token, output_price_per_token::text AS output_price_per_token,
            total_cost::text AS total_cost, uncached_cost::text AS uncached_cost, request_origin, fusillade_batch_id::text AS fusillade_batch_id,
            prompt_tokens::text AS prompt_tokens
       FROM http_analytics WHERE event_id = ANY($1::uuid[]) ORDER BY event_id`,
    [eventIds],
  );
  return rows;
}

/** Usage ledger rows for these events, whoever they charged. */
export async function usageChargesFor(db: Queryable, eventIds: string[]): Promise<{ source_id: string; amount: string }[]> {
  const { rows } = await db.query<{ source_id: string; amount: string }>(
    "SELECT source_id, amount::text AS amount FROM credits_transactions WHERE source_id = ANY($1::text[]) ORDER BY source_id",
    [eventIds.map((id) => `usage:${id}`)],
  );
  return rows;
}
