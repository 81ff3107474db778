/**
 * Postgres access for both workers through the Neon serverless driver. A `Pool` is created and
 * closed inside one invocation (workerd forbids sharing I/O objects across requests).
 *
 * Local development points the driver at a loopback WebSocket bridge with plain ws:// — switched
 * on by configuration (NEON_WS_PROXY, NEON_INSECURE_WEBSOCKET), never by editing code.
 */
import { Pool, neonConfig, type PoolClient } from "@neondatabase/serverless";
import * as z from "zod";
import { inTransaction } from "./sql/client.ts";

export const DbSettingsSchema = z.object({
  DATABASE_URL: z
    .string({ error: "DATABASE_URL is not set: add it with `wrangler secret put DATABASE_URL`" })
    .regex(/^postgres(ql)?:\/\//, { error: "DATABASE_URL must be a postgres:// connection string" }),
  NEON_WS_PROXY: z.string().optional().default(""),
  NEON_INSECURE_WEBSOCKET: z.enum(["true", "false", ""]).optional().default("false"),
  /**
   * Bounds on one connection attempt and on one query (client-side: the driver gives up and the
   * connection is discarded). Unset = none; the gateway sets defaults (config.ts), the consumer's
   * batch writes run unbounded and are retried by the queue.
   */
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().optional(),
  DB_QUERY_TIMEOUT_MS: z.coerce.number().int().positive().optional(),
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
  const pool = new Pool({
    connectionString: settings.DATABASE_URL,
    max,
    // Covers the WebSocket, the startup handshake and (in a pool) the wait for a free connection.
    ...(settings.DB_CONNECT_TIMEOUT_MS ? { connectionTimeoutMillis: settings.DB_CONNECT_TIMEOUT_MS } : {}),
    ...(settings.DB_QUERY_TIMEOUT_MS ? { query_timeout: settings.DB_QUERY_TIMEOUT_MS } : {}),
  });
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

/** Runs `fn` with one connection of `pool`, always released afterwards. */
export async function withConnection<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

/**
 * Runs `fn` inside BEGIN … COMMIT on one connection of `pool` (rolled back and rethrown on any
 * error), released afterwards.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withConnection(pool, (client) => inTransaction(client, () => fn(client)));
}

/**
 * Whether `err` says the database could not be reached or stopped answering (as opposed to a
 * statement it refused): connection refused, reset or lost, a connect or query timeout, the server
 * shutting down or refusing connections (SQLSTATE classes 08 and 57P, 53300). Such a request is
 * answered 503 and may be retried; anything else is a bug or bad input.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const code = typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : "";
  if (/^08|^57P0[1-3]$|^53300$/.test(code) || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH)$/.test(code)) return true;
  const message = err instanceof Error ? err.message : typeof err === "object" && err !== null && "message" in err ? String(err.message) : String(err);
  return /timeout expired|connection timeout|query read timeout|connection terminated|connection refused|network connection lost|websocket|socket hang up|ECONNREFUSED|ECONNRESET|the database system is (shutting down|starting up)|terminating connection|server closed the connection/i.test(
    message,
  );
}

/** A database read that did not finish in time or could not connect (see `isDatabaseUnavailable`). */
export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatabaseUnavailableError";
  }
}

/**
 * `promise`, or a DatabaseUnavailableError after `ms`: a last bound on a database call, beside the
 * driver's own connect and query timeouts (which do not cover every stage of a WebSocket connection).
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailableError(`${what}: no answer from Postgres within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export type { Pool, PoolClient };
