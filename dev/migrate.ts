/**
 * Applies the SQL migrations in migrations/ with node-pg-migrate. Safe to run any number of
 * times: applied migrations are recorded in the `pgmigrations` table.
 *
 *   DATABASE_URL=postgres://… npm run db:migrate
 */
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import { errorMessage } from "../shared/errors.ts";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: "up",
    migrationsTable: "pgmigrations",
    count: Infinity,
    checkOrder: true,
    log,
  });
  return applied.map((m) => m.name);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("DATABASE_URL is not set. Point it at the Postgres to migrate, e.g.\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run db:migrate");
    process.exit(2);
  }
  migrate(url, (msg) => console.log(msg))
    .then((names) => console.log(names.length ? `applied ${names.length} migration(s): ${names.join(", ")}` : "database is up to date"))
    .catch((err: unknown) => {
      console.error(`migration failed: ${errorMessage(err)}`);
      process.exit(1);
    });
}
