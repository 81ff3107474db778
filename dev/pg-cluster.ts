/**
 * A throwaway Postgres 15 cluster on a free loopback port, for tests and the chaos suite that
 * need to stop the database (never the shared server): `initdb` into a temporary directory,
 * `pg_ctl start|stop`, and `remove()` to stop it and delete its files.
 *
 * Postgres refuses to run as root; when this process is root the binaries run as the `postgres`
 * system user (through `runuser`), which then owns the directory.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./stack.ts";

const run = promisify(execFile);

export const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth, loopback only). */
  url: string;
  port: number;
  dir: string;
  start(): Promise<void>;
  /** Fast shutdown: open connections are cut, as in an outage. */
  stop(): Promise<void>;
  running(): boolean;
  remove(): Promise<void>;
}

/** Whether the Postgres binaries are installed (the tests that need a cluster skip without them). */
export function pgClusterAvailable(): boolean {
  return existsSync(join(PG_BIN, "initdb")) && existsSync(join(PG_BIN, "pg_ctl"));
}

async function asOwner(file: string, args: string[]): Promise<void> {
  const root = userInfo().uid === 0;
  const [cmd, argv] = root ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
  await run(cmd, argv, { timeout: 60_000 });
}

export async function createPgCluster(): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-pg-"));
  const data = join(dir, "data");
  if (userInfo().uid === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  chmodSync(dir, 0o700);
  await asOwner(join(PG_BIN, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C"]);
  const port = await freePort();
  let up = false;
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async start() {
      await asOwner(join(PG_BIN, "pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "30", "start"]);
      up = true;
    },
    async stop() {
      await asOwner(join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"]);
      up = false;
    },
    running: () => up,
    async remove() {
      if (up) await cluster.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return cluster;
}
