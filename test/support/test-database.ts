/**
 * A fresh, migrated database for one test run, so runs never interfere: a new database on the
 * server in DATABASE_URL (dropped afterwards), or an in-memory embedded Postgres.
 */
import pg from "pg";
import { startEmbeddedPostgres } from "../../dev/embedded-postgres.ts";
import { migrate } from "../../dev/migrate.ts";

export interface TestDatabase {
  url: string;
  embedded: boolean;
  drop(): Promise<void>;
}

export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres();
    await migrate(embedded.databaseUrl);
    return { url: embedded.databaseUrl, embedded: true, drop: () => embedded.close() };
  }
  const name = `tollgate_test_${label}_${process.pid}_${Date.now().toString(36)}`.replace(/[^a-z0-9_]/g, "_");
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  return {
    url: url.toString(),
    embedded: false,
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
