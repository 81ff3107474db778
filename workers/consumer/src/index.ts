import { DbSettingsSchema } from "../../../shared/db.ts";
import { handleAdminRequest } from "./admin.ts";
import { retryAll } from "./delivery.ts";
import { handleDeadLetterBatch, handleUsageBatch } from "./usage-batch.ts";

export default {
  async queue(batch, env, _ctx): Promise<void> {
    const settings = DbSettingsSchema.safeParse(env);
    if (!settings.success) {
      // Not the messages' fault: keep them (retry) until the operator fixes the configuration.
      retryAll(batch, new Error(`consumer misconfigured: ${settings.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`));
      return;
    }
    if (batch.queue === env.DEAD_LETTER_QUEUE) return handleDeadLetterBatch(batch, settings.data);
    await handleUsageBatch(batch, settings.data, { responsesBucket: env.RESPONSES_BUCKET });
  },

  // Only the dead-letter replay endpoint (see admin.ts).
  async fetch(request, env): Promise<Response> {
    return handleAdminRequest(request, env);
  },
} satisfies ExportedHandler<ConsumerEnv, unknown>;
