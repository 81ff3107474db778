// Bindings the test configuration adds on top of wrangler.toml (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    MOCK_UPSTREAM_URL: string;
    TEST_DATABASE_EMBEDDED: "true" | "false";
    FAULT_CONTROL_URL: string;
  }
}
