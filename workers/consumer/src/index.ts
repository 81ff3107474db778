import { handleAdminRequest } from "./admin.ts";
import { consumerConfig, type ConsumerConfig } from "./config.ts";
import { retryAll } from "./delivery.ts";
import { handleDeadLetterBatch, handleUsageBatch } from "./usage-batch.ts";

export default {
  async queue(batch, env, _ctx): Promise<void> {
    let config: ConsumerConfig;
    try {
      config = consumerConfig(env);
    } catch (err) {
      // Not the messages' fault: keep them (retry) until the operator fixes the configuration.
      retryAll(batch, err);
      return;
    }
    if (batch.queue === config.DEAD_LETTER_QUEUE) return handleDeadLetterBatch(batch, config);
    await handleUsageBatch(batch, config, { responsesBucket: env.RESPONSES_BUCKET });
  },

  // Only the dead-letter replay endpoint (see admin.ts).
  async fetch(request, env): Promise<Response> {
    return handleAdminRequest(request, env);
  },
} satisfies ExportedHandler<ConsumerEnv, unknown>;
