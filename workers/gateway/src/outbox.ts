/**
 * The gateway's one way onto the usage queue, for both message kinds: usage messages (in bundles,
 * through a short linger window) and stored-response messages (one queue message each: they can
 * be ~100 KB). Both go through `sendWithRetry`, sent in `waitUntil` so nothing here delays a caller.
 */
import { errorMessage } from "../../../shared/errors.ts";
import type { ResponseMessageV1 } from "../../../shared/response-message.ts";
import { usageBundles, type UsageBundle, type UsageMessageV1 } from "../../../shared/usage-message.ts";

const SEND_BACKOFF_MS = [50, 250];

/**
 * Sends one queue message with bounded retries; a failure is logged with `label` (ids only, never
 * bodies; a function is called only then) and reported as false, never thrown.
 */
export async function sendWithRetry(queue: Queue, body: UsageBundle | ResponseMessageV1, label: string | (() => string)): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await queue.send(body, { contentType: "json" });
      return true;
    } catch (err) {
      const delay = SEND_BACKOFF_MS[attempt];
      if (delay === undefined) {
        console.error(`${typeof label === "function" ? label() : label} not enqueued after ${attempt + 1} attempts: ${errorMessage(err)}`);
        return false;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * Usage messages waiting to go out together (plain data, per isolate). What accumulates in the
 * linger window leaves as one queue message, a usage bundle (shared/usage-message.ts): under load
 * one queue operation carries many requests; alone, a message waits at most OUTBOX_LINGER_MS.
 * The request that opens the outbox owns its flush (in its own waitUntil), so no request ever
 * waits on another's promise.
 */
const outbox: UsageMessageV1[] = [];
let flushScheduled = false;
const OUTBOX_LINGER_MS = 25;

async function flushOutbox(queue: Queue): Promise<void> {
  await new Promise((r) => setTimeout(r, OUTBOX_LINGER_MS));
  flushScheduled = false;
  // Only what is here now: messages that arrive while this flush is sending wait for the flush
  // they schedule, and so travel in full bundles rather than as a trail of small ones.
  for (const bundle of usageBundles(outbox.splice(0))) {
    // The label (every event id) is only made if the send fails for good.
    await sendWithRetry(queue, bundle, () => `usage messages (${bundle.messages.map((m) => m.event_id).join(", ")})`);
  }
}

/** Queues a usage message; returns the flush to hand to waitUntil when this call opened one. */
export function enqueueUsage(queue: Queue, message: UsageMessageV1): Promise<void> | null {
  outbox.push(message);
  if (flushScheduled) return null;
  flushScheduled = true;
  return flushOutbox(queue);
}
