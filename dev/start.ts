/**
 * `npm start`: the whole product on this machine. See dev/stack.ts for what starts, and the
 * README for the environment variables honoured here.
 */
import { join } from "node:path";
import { ROOT, startStack } from "./stack.ts";
import { errorMessage } from "../shared/errors.ts";

function fail(message: string): never {
  console.error(`\nnpm start failed: ${message}`);
  process.exit(1);
}

const env = process.env;
const port = env.PORT ? Number(env.PORT) : 8787;
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be a port number, got '${env.PORT}'`);
if (env.UPSTREAM_API_KEY && !env.UPSTREAM_URL) fail("UPSTREAM_API_KEY is set but UPSTREAM_URL is not; name the model server it belongs to.");

const stateDir = join(ROOT, ".tollgate");
const t0 = Date.now();
console.log(env.DATABASE_URL ? "Starting Tollgate on the Postgres in DATABASE_URL…" : "Starting Tollgate with embedded Postgres…");

const stack = await startStack({
  databaseUrl: env.DATABASE_URL || undefined,
  embeddedDataDir: join(stateDir, "pgdata"),
  port,
  adminToken: env.ADMIN_TOKEN || undefined,
  upstreamUrl: env.UPSTREAM_URL || undefined,
  upstreamApiKey: env.UPSTREAM_API_KEY || undefined,
  upstreamModel: env.UPSTREAM_MODEL || undefined,
  encryptionKey: env.ENCRYPTION_KEY || undefined,
  stateDir,
  buildConsole: true,
  log: (line) => console.log(`  · ${line}`),
  wranglerOutput: env.TOLLGATE_VERBOSE ? "inherit" : (line) => {
    // Keep the console readable: show wrangler's errors and the workers' own log lines.
    if (/error|✘|\[wrangler:err\]|console\./i.test(line)) console.log(`  [wrangler] ${line}`);
  },
}).catch((err: unknown) => fail(errorMessage(err)));

const curl = [
  `curl ${stack.gatewayUrl}/ai/v1/chat/completions \\`,
  `  -H "Authorization: Bearer ${stack.demoKey}" \\`,
  `  -H "Content-Type: application/json" \\`,
  `  -d '{"model":"${stack.modelAlias}","messages":[{"role":"user","content":"Hello"}]}'`,
].join("\n");

console.log(`
Tollgate is up in ${((Date.now() - t0) / 1000).toFixed(1)} s.

  Console      ${stack.gatewayUrl}   (sign in with the admin token)
  Gateway      ${stack.gatewayUrl}
  Database     ${stack.embedded ? "embedded Postgres (data in .tollgate/pgdata)" : "DATABASE_URL"}
  Upstream     ${stack.mock ? `bundled mock (${stack.mock.url})` : env.UPSTREAM_URL}
  Admin token  ${stack.adminToken}
  Demo API key ${stack.demoKey}   (shown once; a new one is made at each start)
  Demo model   ${stack.modelAlias}

Try it:

${curl}

Press Ctrl-C to stop.`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping…");
    stack.stop().then(() => process.exit(0), () => process.exit(1));
  });
}
