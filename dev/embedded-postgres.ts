/**
 * Embedded Postgres for `npm start` and `npm test` when DATABASE_URL is not set: PGlite (Postgres
 * compiled to WebAssembly) served on a loopback TCP port by its socket server, so the same
 * connection string works for `pg`, psql and — through the WebSocket bridge — the Neon driver.
 */
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

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
  // PGlite runs one query at a time; the server multiplexes connections and keeps a transaction
  // on the connection that opened it.
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port, maxConnections: 64 });
  await server.start();
  const conn = server.getServerConn();
  const actualPort = Number(conn.slice(conn.lastIndexOf(":") + 1));
  return {
    databaseUrl: `postgres://postgres:postgres@127.0.0.1:${actualPort}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}

export type { AddressInfo };
