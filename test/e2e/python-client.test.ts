/**
 * Client compatibility (#15) with the official `openai` package for Python, unmodified, against
 * the stack `npm start` runs (startStack, both workers under `wrangler dev`, embedded or
 * DATABASE_URL Postgres). The calls live in test/e2e/python/compat.py; this file starts the stack,
 * runs the script and fails on every check it reports as not ok.
 *
 * Needs a Python with `openai` installed: TOLLGATE_PYTHON names the interpreter (default python3).
 * Neither Debian nor the npm registry packages the Python SDK, so CI does not install it; where it
 * is missing the suite is skipped and says so, and where it is present it must pass.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../dev/stack.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

const PYTHON = process.env.TOLLGATE_PYTHON || "python3";
const SCRIPT = new URL("./python/compat.py", import.meta.url).pathname;
const probe = spawnSync(PYTHON, ["-c", "import openai; print(openai.__version__)"], { encoding: "utf8" });
const sdkVersion = probe.status === 0 ? probe.stdout.trim() : null;
if (!sdkVersion) console.warn(`python-client: skipped, ${PYTHON} cannot import openai (set TOLLGATE_PYTHON to a Python that has it)`);

interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

function runScript(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!sdkVersion)(`the official Python client (openai ${sdkVersion ?? "absent"}), unchanged`, () => {
  let stack: Stack;
  let db: TestDatabase | undefined;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "tollgate-py-"));
    db = process.env.DATABASE_URL ? await createTestDatabase("python") : undefined;
    stack = await startStack({ databaseUrl: db?.url, port: 0, stateDir, log: () => {}, wranglerOutput: () => {} });
  });

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it("chat (JSON, streamed, tool calls), embeddings (default base64), responses (immediate retrieve and chain, stream helper, input items, delete), models, typed errors", async () => {
    const { code, stdout, stderr } = await runScript({
      TOLLGATE_BASE_URL: `${stack.gatewayUrl}/ai/v1`,
      TOLLGATE_KEY: stack.demoKey,
      TOLLGATE_MODEL: stack.modelAlias,
    });
    expect(code, stderr).toBe(0);
    const results = stdout.trim().split("\n").map((line) => JSON.parse(line) as CheckResult);
    const failed = results.filter((r) => !r.ok);
    expect(failed, failed.map((r) => `${r.check}: ${r.detail}`).join("\n")).toEqual([]);
    expect(results.map((r) => r.check)).toEqual(
      expect.arrayContaining([
        "chat_json",
        "chat_stream_with_usage",
        "chat_stream_helper_and_tool_call",
        "embeddings_default_base64",
        "responses_chain_immediately",
        "responses_stream_helper",
        "models_list_and_retrieve",
        "errors_are_typed",
      ]),
    );
  });
});
