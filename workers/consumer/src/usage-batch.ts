/**
 * The usage queue's batch handler: sort messages into usage, stored responses and poison, write
 * the usage (and the poison's dead letters) in one transaction and the stored responses in
 * another, then settle the batch — ack everything after both commits, or retry everything with
 * backoff when the database failed. Both writes are idempotent, so a retry after the first
 * committed changes nothing it wrote.
 */
import type { DbSettings } from "../../../shared/db.ts";
import type { SqlClient } from "../../../shared/sql/client.ts";
import { withConnection, withPool } from "../../../shared/db.ts";
import { errorMessage } from "../../../shared/errors.ts";
import type { BalanceCrossing } from "../../../shared/pricing.ts";
import { isResponseMessage, ResponseMessageSchema, type ResponseMessage } from "../../../shared/response-message.ts";
import { isUsageBundle, repairUsageRecord, UsageBundleSchema, UsageMessageSchema, type UsageMessage } from "../../../shared/usage-message.ts";
import { storeDeadLetters, type DeadLetter } from "./dead-letters.ts";
import { retryAll } from "./delivery.ts";
import { markKeysUsed } from "./key-last-used.ts";
import { writeResponseBatch, type ResponseWriteOutcome } from "./response-writer.ts";
import { dedupeByEventId, unstorableReason } from "./usage-plan.ts";
import { writeUsageBatch, type UsageWriteOutcome } from "./usage-writer.ts";

/** What happened to a batch: the value the handler returns and tests assert. */
export type UsageBatchResult =
  | { ok: true; outcome: UsageWriteOutcome; responses: ResponseWriteOutcome; deadLettered: number }
  | { ok: false; retryable: true; error: string };

export interface SortedBatch {
  good: UsageMessage[];
  responses: ResponseMessage[];
  poison: DeadLetter[];
}

/** Where the batch handler may find response bodies that were put in R2. */
export interface BatchOptions {
  responsesBucket?: R2Bucket;
}

function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.slice(0, 5).map((i) => `${i.path.map(String).join(".") || "(body)"}: ${i.message}`).join("; ");
}

/**
 * Parses every body (after repairUsageRecord); one that is still malformed or unstorable becomes
 * a dead letter instead of failing the batch. A usage bundle is opened and each of its records judged on its own: a bad record is
 * dead-lettered alone (as `<message id>#<index>`, its body the record, so a replay re-sends just
 * that record) and the rest are written.
 */
export function sortBatch(batch: MessageBatch<unknown>): SortedBatch {
  const good: UsageMessage[] = [];
  const responses: ResponseMessage[] = [];
  const poison: DeadLetter[] = [];
  const usage = (body: unknown, messageId: string, attempts: number) => {
    // Repaired first (control characters stripped, counts bounded): only what no repair can make
    // storable is dead-lettered; the dead letter keeps the body as it came.
    const parsed = UsageMessageSchema.safeParse(repairUsageRecord(body));
    const reason = parsed.success ? unstorableReason(parsed.data) : describeIssues(parsed.error.issues);
    if (parsed.success && reason === null) good.push(parsed.data);
    else poison.push({ queue: batch.queue, messageId, body, reason: `malformed usage message: ${reason}`, attempts });
  };
  for (const message of batch.messages) {
    if (isResponseMessage(message.body)) {
      const parsed = ResponseMessageSchema.safeParse(message.body);
      if (parsed.success) responses.push(parsed.data);
      else poison.push({ queue: batch.queue, messageId: message.id, body: message.body, reason: `malformed response message: ${describeIssues(parsed.error.issues)}`, attempts: message.attempts });
      continue;
    }
    if (isUsageBundle(message.body)) {
      const parsed = UsageBundleSchema.safeParse(message.body);
      if (parsed.success) parsed.data.messages.forEach((record, i) => usage(record, `${message.id}#${i}`, message.attempts));
      else poison.push({ queue: batch.queue, messageId: message.id, body: message.body, reason: `malformed usage bundle: ${describeIssues(parsed.error.issues)}`, attempts: message.attempts });
      continue;
    }
    usage(message.body, message.id, message.attempts);
  }
  return { good: dedupeByEventId(good), responses, poison };
}

export function describeCrossing(c: BalanceCrossing): string {
  return `balance ${c.direction} for user ${c.userId}: ${c.before} → ${c.after}`;
}

export async function handleUsageBatch(batch: MessageBatch<unknown>, db: DbSettings, options: BatchOptions = {}): Promise<UsageBatchResult> {
  const { good, responses, poison } = sortBatch(batch);
  const result = await attempt(() =>
    withPool(db, (pool) =>
      withConnection(pool, async (client) => {
        const usage = await writeUsageInChunks(client, good, poison);
        await markKeysUsed(client, good);
        return { usage, responses: await writeResponseBatch(client, responses) };
      }),
    ),
  );
  if (!result.ok) {
    retryAll(batch, result.error);
    return result;
  }
  const { usage: outcome, responses: stored } = result.outcome;
  if (stored.droppedOwnerless > 0) console.warn(`${stored.droppedOwnerless} stored response(s) dropped: their key resolves to no owner`);
  await deleteObjects(options.responsesBucket, stored.orphanedObjects, "orphaned response object(s)");
  await deleteObjects(options.responsesBucket, stored.liveCopies, "live response copies");
  for (const problem of outcome.problems) console.error(problem);
  if (poison.length > 0) console.warn(`${poison.length} malformed message(s) from ${batch.queue} stored in dead_letters`);
  // Committing the checkpoint is what the gateway's balance gate reads (through its short-lived
  // cache); the line makes each crossing visible to operators, once.
  for (const crossing of outcome.crossings) console.log(describeCrossing(crossing));
  batch.ackAll();
  return { ok: true, outcome, responses: stored, deadLettered: poison.length };
}

/**
 * Records per write statement. A batch of bundles can hold 100 × 100 records; each chunk is its own
 * statement and transaction. If a later chunk fails, the batch is retried whole and the chunks
 * already committed change nothing the second time (every write is idempotent), and a balance's
 * zero crossing is still reported by the one statement that moved it.
 */
const WRITE_CHUNK = 1_000;

async function writeUsageInChunks(client: SqlClient, good: readonly UsageMessage[], poison: readonly DeadLetter[]): Promise<UsageWriteOutcome> {
  if (good.length <= WRITE_CHUNK) return writeUsageBatch(client, good, poison);
  const total: UsageWriteOutcome = { recorded: 0, alreadyRecorded: 0, charged: 0, balanceChanges: [], crossings: [], problems: [] };
  for (let i = 0; i < good.length; i += WRITE_CHUNK) {
    const part = await writeUsageBatch(client, good.slice(i, i + WRITE_CHUNK), i === 0 ? poison : []);
    total.recorded += part.recorded;
    total.alreadyRecorded += part.alreadyRecorded;
    total.charged += part.charged;
    total.balanceChanges.push(...part.balanceChanges);
    total.crossings.push(...part.crossings);
    total.problems.push(...part.problems);
  }
  return total;
}

/**
 * Removes R2 objects nothing will read again (bodies of dropped records, live copies whose row is
 * written): best effort, after the commit, at most 1,000 keys per call (R2's limit). A failure is
 * logged; the objects are then unreachable or expire.
 */
async function deleteObjects(bucket: R2Bucket | undefined, keys: readonly string[], what: string): Promise<void> {
  if (!bucket || keys.length === 0) return;
  for (let i = 0; i < keys.length; i += 1000) {
    const slice = keys.slice(i, i + 1000);
    try {
      await bucket.delete(slice);
    } catch (err) {
      console.warn(`could not delete ${slice.length} ${what}: ${errorMessage(err)}`);
    }
  }
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
    withPool(db, (pool) => withConnection(pool, (client) => storeDeadLetters(client, letters))),
  );
  if (!result.ok) return retryAll(batch, result.error);
  batch.ackAll();
}

/** A database error is an expected failure: it becomes a retryable value, never an exception. */
async function attempt<T>(fn: () => Promise<T>): Promise<{ ok: true; outcome: T } | { ok: false; retryable: true; error: string }> {
  try {
    return { ok: true, outcome: await fn() };
  } catch (err) {
    return { ok: false, retryable: true, error: errorMessage(err) };
  }
}
