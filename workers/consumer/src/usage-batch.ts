/**
 * The usage queue's batch handler: sort messages into storable and poison, write the storable ones
 * (and the poison's dead letters) in one transaction, then settle the batch — ack everything after
 * the commit, or retry everything with backoff when the database failed (nothing was written).
 */
import type { DbSettings } from "../../../shared/db.ts";
import { withPool } from "../../../shared/db.ts";
import type { BalanceCrossing } from "../../../shared/pricing.ts";
import { UsageMessageSchema, type UsageMessage } from "../../../shared/usage-message.ts";
import { storeDeadLetters, type DeadLetter } from "./dead-letters.ts";
import { retryAll } from "./delivery.ts";
import { dedupeByEventId, unstorableReason } from "./usage-plan.ts";
import { writeUsageBatch, type UsageWriteOutcome } from "./usage-writer.ts";

/** What happened to a batch: the value the handler returns and tests assert. */
export type UsageBatchResult =
  | { ok: true; outcome: UsageWriteOutcome; deadLettered: number }
  | { ok: false; retryable: true; error: string };

export interface SortedBatch {
  good: UsageMessage[];
  poison: DeadLetter[];
}

/** Parses every body; a malformed or unstorable one becomes a dead letter instead of failing the batch. */
export function sortBatch(batch: MessageBatch<unknown>): SortedBatch {
  const good: UsageMessage[] = [];
  const poison: DeadLetter[] = [];
  for (const message of batch.messages) {
    const parsed = UsageMessageSchema.safeParse(message.body);
    const reason = parsed.success
      ? unstorableReason(parsed.data)
      : parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
    if (parsed.success && reason === null) {
      good.push(parsed.data);
    } else {
      poison.push({ queue: batch.queue, messageId: message.id, body: message.body, reason: `malformed usage message: ${reason}`, attempts: message.attempts });
    }
  }
  return { good: dedupeByEventId(good), poison };
}

export function describeCrossing(c: BalanceCrossing): string {
  return `balance ${c.direction} for user ${c.userId}: ${c.before} → ${c.after}`;
}

export async function handleUsageBatch(batch: MessageBatch<unknown>, db: DbSettings): Promise<UsageBatchResult> {
  const { good, poison } = sortBatch(batch);
  const result = await attempt(() =>
    withPool(db, async (pool) => {
      const client = await pool.connect();
      try {
        return await writeUsageBatch(client, good, poison);
      } finally {
        client.release();
      }
    }),
  );
  if (!result.ok) {
    retryAll(batch, result.error);
    return result;
  }
  const { outcome } = result;
  for (const problem of outcome.problems) console.error(problem);
  if (poison.length > 0) console.warn(`${poison.length} malformed message(s) from ${batch.queue} stored in dead_letters`);
  // Committing the checkpoint is what the gateway's balance gate reads (through its short-lived
  // cache); the line makes each crossing visible to operators, once.
  for (const crossing of outcome.crossings) console.log(describeCrossing(crossing));
  batch.ackAll();
  return { ok: true, outcome, deadLettered: poison.length };
}

/** Messages that exhausted their retries on the usage queue: store them for replay. */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, db: DbSettings): Promise<void> {
  const letters: DeadLetter[] = batch.messages.map((m) => ({
    queue: batch.queue,
    messageId: m.id,
    body: m.body,
    reason: "retries exhausted on the usage queue",
    attempts: m.attempts,
  }));
  const result = await attempt(() =>
    withPool(db, async (pool) => {
      const client = await pool.connect();
      try {
        await storeDeadLetters(client, letters);
      } finally {
        client.release();
      }
    }),
  );
  if (!result.ok) return retryAll(batch, result.error);
  batch.ackAll();
}

/** A database error is an expected failure: it becomes a retryable value, never an exception. */
async function attempt<T>(fn: () => Promise<T>): Promise<{ ok: true; outcome: T } | { ok: false; retryable: true; error: string }> {
  try {
    return { ok: true, outcome: await fn() };
  } catch (err) {
    return { ok: false, retryable: true, error: err instanceof Error ? err.message : String(err) };
  }
}
