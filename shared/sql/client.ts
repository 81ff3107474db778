/**
 * The one thing the write path needs from a database connection: `query(text, values)`. Both the
 * Neon driver's PoolClient (in the workers) and node-postgres' Client (benchmarks, tools) satisfy
 * it, so the same code runs in workerd and in Node.
 *
 * Row types must be type literals or `type` aliases (interfaces are not assignable to
 * Record<string, unknown>).
 */
export interface SqlClient {
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** Runs `fn` inside BEGIN … COMMIT on one connection; rolls back and rethrows on any error. */
export async function inTransaction<T>(client: SqlClient, fn: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await fn();
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
