/**
 * Three layers, one command (`npm test`):
 *   unit      — pure logic in Node
 *   gateway / consumer — each worker inside workerd (@cloudflare/vitest-pool-workers) against a
 *               real Postgres through the real Neon driver, with a mock upstream
 *   e2e       — the stack `npm start` runs, driven by the official openai client
 * Postgres: DATABASE_URL's server (a fresh database per run) or embedded PGlite.
 */
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { mkdirSync } from "node:fs";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

// wrangler.toml serves the console from web/dist; the workers' tests need the folder, not a build.
mkdirSync(new URL("./web/dist", import.meta.url), { recursive: true });

function workersProject(
  name: "gateway" | "consumer",
  configPath: string,
  main: string,
  extra: { bindings?: Record<string, string>; queueConsumers?: Record<string, { maxBatchTimeout: number; maxRetries?: number }>; setupFiles?: string[] } = {},
): TestProjectInlineConfiguration {
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        main,
        wrangler: { configPath },
        miniflare: {
          ...(extra.queueConsumers ? { queueConsumers: extra.queueConsumers } : {}),
          bindings: {
            ...extra.bindings,
            DATABASE_URL: inject("databaseUrl"),
            NEON_WS_PROXY: inject("wsProxy"),
            NEON_INSECURE_WEBSOCKET: "true",
            MOCK_UPSTREAM_URL: inject("mockUrl"),
            TEST_DATABASE_EMBEDDED: String(inject("databaseEmbedded")),
            FAULT_CONTROL_URL: inject("faultControlUrl"),
            ADMIN_TOKEN: "test-admin-token-0123456789",
            ENCRYPTION_KEY: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
          },
        },
      })),
    ],
    test: {
      name,
      include: [`test/workers/${name}/**/*.test.ts`],
      globalSetup: ["test/support/workers-global-setup.ts"],
      setupFiles: extra.setupFiles ?? [],
      testTimeout: 20_000,
    },
  };
}

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" },
      },
      // The gateway runs from a test entry that wraps the real one and collects its queue
      // messages, so tests can assert exactly what was enqueued.
      workersProject("gateway", "./wrangler.toml", "./test/workers/gateway/test-main.ts", {
        // Routing: a 1 s health cool-down. Batches: a 3 s window for the expiry test, retries
        // without waiting, 4 requests per model in flight.
        bindings: {
          UPSTREAM_TIMEOUT_MS: "2000",
          UPSTREAM_STREAM_IDLE_MS: "1500",
          ACCESS_CACHE_TTL_MS: "300",
          ROUTING_EJECT_COOLDOWN_MS: "1000",
          BATCH_COMPLETION_WINDOWS: "24h,1h,3s",
          BATCH_MAX_ATTEMPTS: "2",
          BATCH_RETRY_DELAY_SECONDS: "0",
          BATCH_MODEL_CONCURRENCY: "4",
          // Batches start 16 lines per queue message here, so every multi-slice start path runs.
          BATCH_START_LINES: "16",
        },
        queueConsumers: { "tollgate-usage": { maxBatchTimeout: 0.05 }, "tollgate-batch": { maxBatchTimeout: 0.05, maxRetries: 10 } },
        setupFiles: ["test/workers/gateway/tokenizer-ranks-setup.ts"],
      }),
      workersProject("consumer", "./workers/consumer/wrangler.toml", "./workers/consumer/src/index.ts"),
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
