/**
 * Dead letters: messages that cannot be processed (malformed) or ran out of retries are stored in
 * the `dead_letters` table, where they can be inspected and replayed (`npm run dlq:replay`).
 */
import type { PoolClient } from "@neondatabase/serverless";
import { unnestInsert } from "../../../shared/sql/unnest-insert.ts";
import { bodyText } from "./delivery.ts";

export interface DeadLetter {
  queue: string;
  messageId: string;
  body: unknown;
  reason: string;
  attempts: number;
}

export async function storeDeadLetters(client: PoolClient, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const q = unnestInsert<DeadLetter>(
    "dead_letters",
    [
      ["queue", "text", (d) => d.queue],
      ["message_id", "text", (d) => d.messageId],
      ["body", "text", (d) => bodyText(d.body)],
      ["reason", "text", (d) => d.reason],
      ["attempts", "int", (d) => d.attempts],
    ],
    letters,
    "ON CONFLICT (queue, message_id) DO NOTHING",
  );
  await client.query(q.text, q.values);
}
