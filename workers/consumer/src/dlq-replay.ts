/**
 * Replays stored dead letters: every un-replayed `dead_letters` row whose body is a valid usage
 * message, usage bundle or response message goes back onto the usage queue and is marked `replayed_at`. Replaying is
 * safe any number of times — the write paths are idempotent by event_id, source_id and response
 * id — so a crash between sending and marking only means a harmless second delivery. Rows that
 * are not valid messages stay where they are, for a person to look at.
 */
import { isResponseMessage, ResponseMessageSchema, type ResponseMessage } from "../../../shared/response-message.ts";
import { packWithin } from "../../../shared/pack.ts";
import { inTransaction, type SqlClient } from "../../../shared/sql/client.ts";
import { isUsageBundle, repairUsageRecord, UsageBundleSchema, UsageMessageSchema, type UsageBundle, type UsageMessage } from "../../../shared/usage-message.ts";
import { unstorableReason } from "./usage-plan.ts";

/** What may go back onto the usage queue. */
export type ReplayableMessage = UsageMessage | UsageBundle | ResponseMessage;

/** A queue sendBatch takes at most 100 messages. */
export const REPLAY_PAGE_SIZE = 100;
/** …and at most 256 KB in all (kept under, with room for the batch's own framing). */
export const SEND_BATCH_MAX_BYTES = 250_000;

/**
 * Splits messages, in order, into sendBatch calls within the Queues limits: at most 100 messages
 * and SEND_BATCH_MAX_BYTES of JSON each. (A usage bundle or a response message can each be close
 * to 128 KB, so a page of them needs several calls.)
 */
export function sendBatches<T>(messages: readonly T[]): T[][] {
  const encoder = new TextEncoder();
  return packWithin(messages, REPLAY_PAGE_SIZE, SEND_BATCH_MAX_BYTES, (m) => encoder.encode(JSON.stringify(m)).length);
}

export interface ReplayCounts {
  /** Messages sent back to the usage queue and marked replayed. */
  replayed: number;
  /** Un-replayed rows examined whose body is not a storable usage or response message (left in place). */
  malformed: number;
  /** True when the limit stopped the run before every un-replayed row was examined. */
  more: boolean;
  /** The last row id examined: pass it back as `after` to continue where this run stopped. */
  cursor: string;
}

/** The usage or response message a stored body holds, or null. */
export function replayableBody(text: string): ReplayableMessage | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (isResponseMessage(json)) {
    const response = ResponseMessageSchema.safeParse(json);
    return response.success ? response.data : null;
  }
  if (isUsageBundle(json)) {
    // A bundle that exhausted its retries: its storable records go back as a bundle.
    const bundle = UsageBundleSchema.safeParse(json);
    if (!bundle.success) return null;
    const records = bundle.data.messages.flatMap((record) => {
      const parsed = UsageMessageSchema.safeParse(repairUsageRecord(record));
      return parsed.success && unstorableReason(parsed.data) === null ? [parsed.data] : [];
    });
    return records.length > 0 ? { kind: "usage_bundle", v: 1, messages: records } : null;
  }
  // Repaired as the consumer repairs what it receives: records dead-lettered before repairs existed replay.
  const parsed = UsageMessageSchema.safeParse(repairUsageRecord(json));
  return parsed.success && unstorableReason(parsed.data) === null ? parsed.data : null;
}

/**
 * Pages through un-replayed rows in id order (keyset, so malformed rows are passed over, not
 * re-read), one transaction per page: rows are locked with SKIP LOCKED so two replays at once
 * split the work instead of sending a row twice.
 */
export async function replayDeadLetters(
  client: SqlClient,
  send: (messages: ReplayableMessage[]) => Promise<void>,
  limit = 1000,
  after = "0",
): Promise<ReplayCounts> {
  const counts: ReplayCounts = { replayed: 0, malformed: 0, more: false, cursor: after };
  let afterId = after;
  let examined = 0;
  for (;;) {
    const pageSize = Math.min(REPLAY_PAGE_SIZE, limit - examined);
    if (pageSize <= 0) {
      const { rows } = await client.query<{ more: boolean }>(
        "SELECT EXISTS (SELECT 1 FROM dead_letters WHERE replayed_at IS NULL AND id > $1::bigint) AS more",
        [afterId],
      );
      counts.more = rows[0]?.more ?? false;
      return counts;
    }
    const page = await inTransaction(client, async () => {
      // (Aliased row_id so that ORDER BY sorts the bigint, not its text.)
      const { rows } = await client.query<{ row_id: string; body: string }>(
        `SELECT id::text AS row_id, body FROM dead_letters
          WHERE replayed_at IS NULL AND id > $1::bigint
          ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [afterId, pageSize],
      );
      const good: { id: string; message: ReplayableMessage }[] = [];
      for (const row of rows) {
        const message = replayableBody(row.body);
        if (message) good.push({ id: row.row_id, message });
      }
      if (good.length > 0) {
        await send(good.map((g) => g.message));
        await client.query("UPDATE dead_letters SET replayed_at = now() WHERE id = ANY($1::bigint[])", [good.map((g) => g.id)]);
      }
      return { rows: rows.length, replayed: good.length, lastId: rows.at(-1)?.row_id };
    });
    examined += page.rows;
    counts.replayed += page.replayed;
    counts.malformed += page.rows - page.replayed;
    if (page.lastId === undefined) return counts;
    afterId = page.lastId;
    counts.cursor = afterId;
  }
}
