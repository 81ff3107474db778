/**
 * Postgres access for both workers through the Neon serverless driver. A `Pool` is created and
 * closed inside one invocation (workerd forbids sharing I/O objects across requests).
 *
 * Local development points the driver at a loopback WebSocket bridge with plain ws:// — switched
 * on by configuration (NEON_WS_PROXY, NEON_INSECURE_WEBSOCKET), never by editing code.
 */
import { Pool, neonConfig } from "@neondatabase/serverless";
import * as z from "zod";

export const DbSettingsSchema = z.object({
  DATABASE_URL: z
    .string({ error: "DATABASE_URL is not set: add it with `wrangler secret put DATABASE_URL`" })
    .regex(/^postgres(ql)?:\/\//, { error: "DATABASE_URL must be a postgres:// connection string" }),
  NEON_WS_PROXY: z.string().optional().default(""),
  NEON_INSECURE_WEBSOCKET: z.enum(["true", "false", ""]).optional().default("false"),
});
export type DbSettings = z.infer<typeof DbSettingsSchema>;

let appliedProxy: string | undefined;

function applyDriverSettings(settings: DbSettings): void {
  // neonConfig is module-global; every invocation of an isolate sees the same env, so applying it
  // once per distinct value is enough.
  if (appliedProxy === settings.NEON_WS_PROXY) return;
  appliedProxy = settings.NEON_WS_PROXY;
  if (settings.NEON_WS_PROXY) {
    const proxy = settings.NEON_WS_PROXY;
    neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
    // A local bridge speaks plain Postgres: no pipelined TLS or password shortcut.
    neonConfig.pipelineConnect = false;
    neonConfig.pipelineTLS = false;
  }
  neonConfig.useSecureWebSocket = settings.NEON_INSECURE_WEBSOCKET !== "true";
}

export function createPool(settings: DbSettings, max = 4): Pool {
  applyDriverSettings(settings);
  const pool = new Pool({ connectionString: settings.DATABASE_URL, max });
  // An idle connection can fail at any time (the server closes it after Terminate, restarts, or
  // the network drops). Without a listener the Pool rethrows that as an uncaught exception.
  pool.on("error", (err: Error) => {
    if (!pool.ending) console.error(`idle Postgres connection failed: ${err.message}`);
  });
  return pool;
}

/** Runs `fn` with a pool that is always closed afterwards. */
export async function withPool<T>(settings: DbSettings, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = createPool(settings);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

export type { Pool };
