/**
 * Dead letters: messages that cannot be processed (malformed) or ran out of retries are stored in
 * the `dead_letters` table, where they can be inspected and replayed (`npm run dlq:replay`).
 */
import type { SqlClient } from "../../../shared/sql/client.ts";
import { unnestInsert } from "../../../shared/sql/unnest-insert.ts";

export interface DeadLetter {
  queue: string;
  messageId: string;
  body: unknown;
  reason: string;
  attempts: number;
}

export async function storeDeadLetters(client: SqlClient, letters: readonly DeadLetter[]): Promise<void> {
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

/** The stored form of a body: as sent when it is text, else its JSON (or its string form). */
export function bodyText(body: unknown): string {
  if (typeof body === "string") return body;
  try {
    return JSON.stringify(body) ?? String(body);
  } catch {
    return String(body);
  }
}
