/**
 * Brings the whole product up on this machine — the code path behind `npm start` and the
 * end-to-end tests:
 *
 *   Postgres (DATABASE_URL, else embedded PGlite) → migrations → WebSocket bridge for the Neon
 *   driver → mock upstream (unless UPSTREAM_URL) → both workers under one `wrangler dev`,
 *   sharing the local queue → the demo seed, made through the admin API.
 *
 * `stop()` ends every process and server it started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateEncryptionKey } from "../shared/secret-box.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded-postgres.ts";
import { migrate } from "./migrate.ts";
import { startMockUpstream, type MockOptions, type MockUpstream } from "./mock-upstream.ts";
import { seedDemo } from "./seed.ts";
import { seedLocalTokenizerRanks } from "./tokenizer-ranks.ts";
import { startWsBridge, type WsBridge } from "./ws-bridge.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

export interface StackOptions {
  /** Use this Postgres instead of the embedded one. */
  databaseUrl?: string;
  /** Where embedded Postgres keeps its data; undefined = in memory (tests). */
  embeddedDataDir?: string;
  /** Gateway port; 0 picks a free one. */
  port: number;
  adminToken?: string;
  /** A real model server (OpenAI-compatible base URL, e.g. https://api.example.com/v1). */
  upstreamUrl?: string;
  upstreamApiKey?: string;
  /** The upstream's model name served as the demo alias. */
  upstreamModel?: string;
  encryptionKey?: string;
  mockOptions?: Partial<MockOptions>;
  /** Folder for this stack's wrangler state and env file (git-ignored). */
  stateDir: string;
  /** Progress lines for the person waiting. */
  log: (line: string) => void;
  /** Where wrangler's own output goes. */
  wranglerOutput: "inherit" | "ignore" | ((line: string) => void);
  /** Build the console (web/ → web/dist) before starting; otherwise serve whatever web/dist holds. */
  buildConsole?: boolean;
}

export interface Stack {
  gatewayUrl: string;
  adminToken: string;
  demoKey: string;
  demoKeyId: string;
  demoUserId: string;
  modelAlias: string;
  databaseUrl: string;
  embedded: boolean;
  mock: MockUpstream | null;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function randomToken(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return prefix + Buffer.from(bytes).toString("base64url");
}

/** The local encryption key lives beside the embedded data so stored upstream keys stay readable. */
function localEncryptionKey(stateDir: string): string {
  const file = join(stateDir, "encryption-key");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const key = generateEncryptionKey();
  writeFileSync(file, key + "\n", { mode: 0o600 });
  return key;
}

function writeSecretFile(path: string, lines: string[]): void {
  writeFileSync(path, lines.join("\n") + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
}

async function waitForHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with code ${child.exitCode} before the gateway came up`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`the gateway did not answer ${url}/healthz within ${timeoutMs / 1000} s`);
}

function pipeLines(stream: NodeJS.ReadableStream | null, sink: (line: string) => void): void {
  if (!stream) return;
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      sink(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

/** `vite build` of the console into web/dist (what `[assets]` in wrangler.toml serves). */
export async function buildConsole(): Promise<void> {
  const vite = join(ROOT, "node_modules", "vite", "bin", "vite.js");
  const child = spawn(process.execPath, [vite, "build", "-c", join(ROOT, "web", "vite.config.ts"), "--logLevel", "warn"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    // NODE_ENV=production whatever the caller's (vitest sets "test", which made Vite build React's
    // development JSX runtime): the browser tests measure the build that ships.
    env: { ...process.env, NODE_ENV: "production", TOLLGATE_WEB_KEEP_DIST: "1" },
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`building the console failed (vite build exited ${code}):\n${output.slice(-4000)}`);
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // keep stopping the rest
      }
    }
  };

  try {
    mkdirSync(o.stateDir, { recursive: true });
    const started = Date.now();
    const step = (what: string) => o.log(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);

    let databaseUrl = o.databaseUrl;
    let embedded: EmbeddedPostgres | undefined;
    if (!databaseUrl) {
      embedded = await startEmbeddedPostgres(o.embeddedDataDir);
      cleanups.push(() => embedded!.close());
      databaseUrl = embedded.databaseUrl;
      step(`embedded Postgres (PGlite) ready${o.embeddedDataDir ? `, data in ${o.embeddedDataDir}` : ", in memory"}`);
    }
    const applied = await migrate(databaseUrl);
    step(applied.length ? `applied ${applied.length} migration(s)` : "database schema up to date");

    if (o.buildConsole) {
      await buildConsole();
      step("console built into web/dist");
    } else {
      // wrangler needs the assets folder to exist even when nothing is built into it.
      mkdirSync(join(ROOT, "web", "dist"), { recursive: true });
    }

    const bridge: WsBridge = await startWsBridge();
    cleanups.push(() => bridge.close());

    let mock: MockUpstream | null = null;
    let upstreamBaseUrl = o.upstreamUrl;
    if (!upstreamBaseUrl) {
      mock = await startMockUpstream(o.mockOptions);
      cleanups.push(() => mock!.close());
      upstreamBaseUrl = mock.baseUrl;
      step(`mock upstream on ${mock.url}`);
    }

    const encryptionKey = o.encryptionKey ?? localEncryptionKey(o.stateDir);
    const adminToken = o.adminToken ?? randomToken("tg-admin-");
    const port = o.port || (await freePort());
    // Secrets reach wrangler through files (mode 0600), not the command line, so they do not show
    // in `ps` or in wrangler's binding table. `--env-file` only reaches the first worker, so the
    // consumer runs from a generated copy of its config with a `.dev.vars` beside it.
    const runDir = join(o.stateDir, `run-${process.pid}-${port}`);
    mkdirSync(runDir, { recursive: true });
    cleanups.push(() => rmSync(runDir, { recursive: true, force: true }));
    const dbVars = [`DATABASE_URL=${databaseUrl}`, `NEON_WS_PROXY=${bridge.proxy}`, `NEON_INSECURE_WEBSOCKET=true`];
    const envFile = join(runDir, "gateway.env");
    writeSecretFile(envFile, [...dbVars, `ADMIN_TOKEN=${adminToken}`, `ENCRYPTION_KEY=${encryptionKey}`]);
    const consumerDir = join(runDir, "consumer");
    mkdirSync(consumerDir, { recursive: true });
    const consumerToml = readFileSync(join(ROOT, "workers", "consumer", "wrangler.toml"), "utf8").replace(
      /^main = .*$/m,
      `main = ${JSON.stringify(join(ROOT, "workers", "consumer", "src", "index.ts"))}`,
    );
    writeFileSync(join(consumerDir, "wrangler.toml"), consumerToml);
    writeSecretFile(join(consumerDir, ".dev.vars"), [...dbVars, `ADMIN_TOKEN=${adminToken}`]);

    await seedLocalTokenizerRanks(join(o.stateDir, "wrangler"));
    const args = [
      WRANGLER,
      "dev",
      "-c", join(ROOT, "wrangler.toml"),
      "-c", join(consumerDir, "wrangler.toml"),
      "--env-file", envFile,
      "--ip", "127.0.0.1",
      "--port", String(port),
      "--inspector-port", String(await freePort()),
      "--persist-to", join(o.stateDir, "wrangler"),
      "--minify=false", // readable local stack traces (deploys are minified: wrangler.toml)
      "--show-interactive-dev-session=false",
    ];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true, // its own process group, so stop() ends workerd too
      stdio: ["ignore", o.wranglerOutput === "inherit" ? "inherit" : "pipe", o.wranglerOutput === "inherit" ? "inherit" : "pipe"],
      // No telemetry, and no fetch of request.cf data from workers.cloudflare.com: local runs stay on loopback.
      env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env, WRANGLER_SEND_METRICS: "false", CI: process.env.CI ?? "" },
    });
    if (typeof o.wranglerOutput === "function") {
      pipeLines(child.stdout, o.wranglerOutput);
      pipeLines(child.stderr, o.wranglerOutput);
    } else if (o.wranglerOutput === "ignore") {
      child.stdout?.resume();
      child.stderr?.resume();
    }
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.pid === undefined) return resolve();
          const timer = setTimeout(() => {
            try {
              process.kill(-child.pid!, "SIGKILL");
            } catch {
              // already gone
            }
          }, 5000);
          child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          try {
            process.kill(-child.pid, "SIGTERM");
          } catch {
            clearTimeout(timer);
            resolve();
          }
        }),
    );

    const gatewayUrl = `http://127.0.0.1:${port}`;
    await waitForHealthy(gatewayUrl, child, 90_000);
    step(`gateway and consumer running under wrangler dev on ${gatewayUrl}`);

    const seed = await seedDemo({
      gatewayUrl,
      adminToken,
      upstreamBaseUrl,
      upstreamModel: o.upstreamModel ?? "mock-gpt",
      upstreamApiKey: o.upstreamApiKey,
    });
    step("demo data seeded through the admin API");

    return {
      gatewayUrl,
      adminToken,
      demoKey: seed.apiKey,
      demoKeyId: seed.apiKeyId,
      demoUserId: seed.userId,
      modelAlias: seed.modelAlias,
      databaseUrl,
      embedded: !o.databaseUrl,
      mock,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
