/**
 * How a failed batch goes back to the queue. After the consumer's max_retries the platform moves
 * a message to the dead-letter queue.
 */
import { retryDelaySeconds } from "../../../shared/backoff.ts";
import { errorMessage } from "../../../shared/errors.ts";

export function retryAll(batch: MessageBatch<unknown>, err: unknown): void {
  console.error(`batch of ${batch.messages.length} from ${batch.queue} will be retried: ${errorMessage(err)}`);
  for (const message of batch.messages) {
    message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  }
}
