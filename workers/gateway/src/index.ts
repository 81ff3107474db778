import { newApp } from "./app.ts";

export { ConcurrencyLimiter } from "./capacity.ts";
export { RateLimiter } from "./rate-limiter.ts";

const app = newApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<GatewayEnv>;
