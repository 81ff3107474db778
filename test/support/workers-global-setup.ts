/**
 * Global setup (in Node) for the tests that run inside workerd: a fresh database, the WebSocket
 * bridge the Neon driver reaches it through, and the mock upstream. Their addresses are handed to
 * the workerd side with `provide`/`inject`.
 */
import type { TestProject } from "vitest/node";
import { startMockUpstream } from "../../dev/mock-upstream.ts";
import { startWsBridge } from "../../dev/ws-bridge.ts";
import { startFaultControl } from "./fault-control.ts";
import { startJwksServer } from "./jwks-server.ts";
import { createTestDatabase } from "./test-database.ts";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    wsProxy: string;
    mockUrl: string;
    /** The embedded Postgres serves every connection in one session (no concurrent transactions). */
    databaseEmbedded: boolean;
    /** Throwaway Postgres cluster and hanging-database controls (test/support/fault-control.ts). */
    faultControlUrl: string;
    /** A stand-in Cloudflare Access key endpoint (see jwks-server.ts). */
    jwksUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const db = await createTestDatabase(project.name.replace(/\W/g, "_"));
  const bridge = await startWsBridge();
  const mock = await startMockUpstream();
  const faults = await startFaultControl();
  const jwks = await startJwksServer();
  project.provide("databaseUrl", db.url);
  project.provide("wsProxy", bridge.proxy);
  project.provide("mockUrl", mock.url);
  project.provide("databaseEmbedded", db.embedded);
  project.provide("faultControlUrl", faults.url);
  project.provide("jwksUrl", jwks.url);
  return async () => {
    await faults.close();
    await mock.close();
    await jwks.close();
    await bridge.close();
    await db.drop();
  };
}
