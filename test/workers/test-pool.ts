/**
 * The workerd tests' database pool: one per test file, on the run's test database (DATABASE_URL
 * in the project's bindings), closed after the file's tests. Creating it opens no connection.
 *
 *   const pool = useTestPool();
 */
import { env } from "cloudflare:test";
import { afterAll } from "vitest";
import { createPool, DbSettingsSchema, type Pool } from "../../shared/db.ts";

export function useTestPool(): Pool {
  const pool = createPool(DbSettingsSchema.parse(env));
  afterAll(() => pool.end());
  return pool;
}
