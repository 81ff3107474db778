/**
 * How a failed batch goes back to the queue: exponential backoff from the platform's attempt
 * count, so a database outage is ridden out without hammering it. After the consumer's
 * max_retries the platform moves the message to the dead-letter queue.
 */
const BASE_DELAY_SECONDS = 2;
const MAX_DELAY_SECONDS = 300;

/** attempts is 1 on first delivery: 2 s, 4 s, 8 s, … capped at 5 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
}

export function retryAll(batch: MessageBatch<unknown>, err: unknown): void {
  console.error(`batch of ${batch.messages.length} from ${batch.queue} will be retried: ${err instanceof Error ? err.message : String(err)}`);
  for (const message of batch.messages) {
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  }
}

export function bodyText(body: unknown): string {
  if (typeof body === "string") return body;
  try {
    return JSON.stringify(body) ?? String(body);
  } catch {
    return String(body);
  }
}
