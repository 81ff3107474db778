/**
 * Embedded Postgres for `npm start` and `npm test` when DATABASE_URL is not set: PGlite (Postgres
 * compiled to WebAssembly) served on a loopback TCP port by dev/pglite-server.ts, so the same
 * connection string works for `pg`, psql and — through the WebSocket bridge — the Neon driver.
 */
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { servePglite } from "./pglite-server.ts";

export interface EmbeddedPostgres {
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * @param dataDir a folder to keep the data in, or undefined for an in-memory database.
 */
export async function startEmbeddedPostgres(dataDir?: string, port = 0): Promise<EmbeddedPostgres> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir ? { dataDir } : {});
  // PGlite is one backend; the server gives it to one connection's exchange or transaction at a time.
  const server = await servePglite(db, "127.0.0.1", port);
  return {
    databaseUrl: `postgres://postgres:postgres@127.0.0.1:${server.port}/postgres`,
    async close() {
      await server.close();
      await db.close();
    },
  };
}
