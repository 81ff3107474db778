/**
 * The usage write path: parse every message, enrich the batch with one query per kind, then write
 * analytics rows in one transaction and ack. Redelivery is harmless: rows are keyed by event_id.
 */
import type { PoolClient } from "@neondatabase/serverless";
import type { DbSettings } from "../../../shared/db.ts";
import { withPool } from "../../../shared/db.ts";
import { insertHttpAnalytics, type AnalyticsRow } from "../../../shared/sql/http-analytics.ts";
import { UsageMessageSchema, type UsageMessage } from "../../../shared/usage-message.ts";
import { storeDeadLetters, type DeadLetter } from "./dead-letters.ts";
import { retryAll } from "./delivery.ts";

interface KeyOwner {
  userId: string;
  purpose: string;
}

export function requestOrigin(purpose: string | undefined, batchId: string | null | undefined): string {
  if (batchId || purpose === "batch") return "fusillade";
  if (purpose === "playground") return "frontend";
  return "api";
}

async function lookupKeyOwners(client: PoolClient, messages: readonly UsageMessage[]): Promise<Map<string, KeyOwner>> {
  const ids = [...new Set(messages.flatMap((m) => (m.api_key_id ? [m.api_key_id] : [])))];
  const owners = new Map<string, KeyOwner>();
  if (ids.length === 0) return owners;
  // Deleted keys are included on purpose: a key deleted after its request still pays for it.
  const { rows } = await client.query<{ id: string; user_id: string; purpose: string }>(
    "SELECT id, user_id, purpose FROM api_keys WHERE id = ANY($1::uuid[])",
    [ids],
  );
  for (const row of rows) owners.set(row.id, { userId: row.user_id, purpose: row.purpose });
  return owners;
}

export async function handleUsageBatch(batch: MessageBatch<unknown>, db: DbSettings): Promise<void> {
  const good: { message: Message<unknown>; body: UsageMessage }[] = [];
  const poison: DeadLetter[] = [];
  for (const message of batch.messages) {
    const parsed = UsageMessageSchema.safeParse(message.body);
    if (parsed.success) {
      good.push({ message, body: parsed.data });
    } else {
      const reason = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
      poison.push({ queue: batch.queue, messageId: message.id, body: message.body, reason: `malformed usage message: ${reason}`, attempts: message.attempts });
    }
  }

  try {
    await withPool(db, async (pool) => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const owners = await lookupKeyOwners(client, good.map((g) => g.body));
        const rows: AnalyticsRow[] = good.map(({ body }) => {
          const owner = body.api_key_id ? owners.get(body.api_key_id) : undefined;
          return {
            message: body,
            userId: owner?.userId ?? null,
            providerName: null,
            inputPricePerToken: null,
            outputPricePerToken: null,
            totalCost: null,
            uncachedCost: null,
            requestOrigin: requestOrigin(owner?.purpose, body.batch?.batch_id),
          };
        });
        if (rows.length > 0) {
          const q = insertHttpAnalytics(rows);
          await client.query(q.text, q.values);
        }
        await storeDeadLetters(client, poison);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    });
  } catch (err) {
    retryAll(batch, err);
    return;
  }
  if (poison.length > 0) console.warn(`${poison.length} malformed message(s) from ${batch.queue} stored in dead_letters`);
  batch.ackAll();
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
  try {
    await withPool(db, async (pool) => {
      const client = await pool.connect();
      try {
        await storeDeadLetters(client, letters);
      } finally {
        client.release();
      }
    });
  } catch (err) {
    retryAll(batch, err);
    return;
  }
  batch.ackAll();
}
