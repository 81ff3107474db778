import { newApp } from "./app.ts";

export { RateLimiter } from "./rate-limiter.ts";

const app = newApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<GatewayEnv>;
