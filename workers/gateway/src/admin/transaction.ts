/**
 * The little the admin handlers need from a connection: `query`, and BEGIN … COMMIT around a
 * function. Kept here rather than imported from the consumer's write-path helpers so the admin API
 * depends only on committed, gateway-owned code; the shapes are the same, so the two can merge.
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
