import { newApp } from "./app.ts";
import { handleBatchQueue } from "./batch-runner.ts";

export { ConcurrencyLimiter } from "./capacity.ts";
export { RateLimiter } from "./rate-limiter.ts";

const app = newApp();

export default {
  fetch: app.fetch,
  // The Batches API's queue: each request runs through this same app, in-process (batch-runner.ts).
  queue: (batch, env, ctx) => handleBatchQueue(batch, env, (request) => Promise.resolve(app.fetch(request, env, ctx))),
} satisfies ExportedHandler<GatewayEnv>;
