/**
 * Test entry for the gateway project: the real gateway's fetch handler and Durable Object, plus a
 * queue handler that collects the usage and response messages the gateway sends (test-only: the real
 * consumer is tested in its own project).
 */
import gateway from "../../../workers/gateway/src/index.ts";
import { isResponseMessage, ResponseMessageSchema, type ResponseMessage } from "../../../shared/response-message.ts";
import { UsageBundleSchema, UsageMessageSchema, isUsageBundle, type UsageMessage } from "../../../shared/usage-message.ts";

export { ConcurrencyLimiter, RateLimiter } from "../../../workers/gateway/src/index.ts";

/** Every usage message the gateway enqueued (unpacked from its bundles), parsed with the consumer's schema. */
export const received: UsageMessage[] = [];
/** Every response message (stored responses), parsed with the consumer's schema. */
export const responsesReceived: ResponseMessage[] = [];
/** Raw bodies, to check that nothing secret is ever enqueued. */
export const rawBodies: string[] = [];

export default {
  fetch: gateway.fetch,
  async queue(batch, env, ctx) {
    // The Batches API's queue is the gateway's own: run it as production does.
    if (batch.queue === "tollgate-batch") return gateway.queue(batch, env, ctx);
    for (const message of batch.messages) {
      rawBodies.push(JSON.stringify(message.body));
      if (isResponseMessage(message.body)) responsesReceived.push(ResponseMessageSchema.parse(message.body));
      else if (isUsageBundle(message.body)) {
        for (const record of UsageBundleSchema.parse(message.body).messages) received.push(UsageMessageSchema.parse(record));
      } else received.push(UsageMessageSchema.parse(message.body));
      message.ack();
    }
  },
} satisfies ExportedHandler<Cloudflare.Env>;
