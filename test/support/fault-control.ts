/**
 * Faults the workerd tests can switch from inside workerd (which cannot start processes): a small
 * loopback HTTP server, started by the global setup, that owns a throwaway Postgres cluster
 * (created, migrated, stopped and started on request; removed at teardown) and a "black hole" TCP
 * port that accepts connections and never answers (a database that hangs).
 *
 *   POST /pg/create → {"url"}   (idempotent; the cluster is created on first use only)
 *   POST /pg/stop, POST /pg/start
 *   POST /blackhole → {"port"}
 */
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { migrate } from "../../dev/migrate.ts";
import { createPgCluster, pgClusterAvailable, type PgCluster } from "../../dev/pg-cluster.ts";

export interface FaultControl {
  url: string;
  close(): Promise<void>;
}

export async function startFaultControl(): Promise<FaultControl> {
  let cluster: Promise<PgCluster> | null = null;
  let blackhole: Promise<number> | null = null;
  const held = new Set<Socket>();
  const tcp = createTcpServer((socket) => {
    held.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => held.delete(socket));
  });

  const actions: Record<string, () => Promise<unknown>> = {
    "/pg/create": async () => {
      if (!pgClusterAvailable()) return { unavailable: "Postgres binaries not installed (PG_BIN)" };
      cluster ??= createPgCluster().then(async (c) => {
        await migrate(c.url);
        return c;
      });
      return { url: (await cluster).url };
    },
    "/pg/stop": async () => {
      await (await cluster)?.stop();
      return {};
    },
    "/pg/start": async () => {
      await (await cluster)?.start();
      return {};
    },
    "/blackhole": async () => {
      blackhole ??= new Promise((resolve) => tcp.listen(0, "127.0.0.1", () => resolve((tcp.address() as AddressInfo).port)));
      return { port: await blackhole };
    },
  };

  const http = createHttpServer((req, res) => {
    const action = req.method === "POST" ? actions[req.url ?? ""] : undefined;
    if (!action) {
      res.writeHead(404).end();
      return;
    }
    action().then(
      (body) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body)),
      (err: unknown) => res.writeHead(500).end(err instanceof Error ? err.message : String(err)),
    );
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async close() {
      await new Promise<void>((resolve) => http.close(() => resolve()));
      for (const s of held) s.destroy();
      if (blackhole) await new Promise<void>((resolve) => tcp.close(() => resolve()));
      await (await cluster?.catch(() => null))?.remove();
    },
  };
}
