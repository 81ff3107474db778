/**
 * Process helpers the CPU-measuring benchmarks share (Linux /proc): a process's CPU time, this
 * process's children, and the mock upstream started as its own process.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../dev/stack.ts";

const CLOCK_TICKS_PER_S = 100;

/** User + system CPU time of a process so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_S;
}

/** This process's child processes (Miniflare's workerd, the mock, the peer). */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    const children = readFileSync(`/proc/${process.pid}/task/${task}/children`, "utf8").trim();
    if (children) pids.push(...children.split(" ").map(Number));
  }
  return pids;
}

/**
 * Runs a TypeScript mock server (`args`: its file and arguments, under tsx) in its own process,
 * with `stdin` written to it when given; resolves once it prints `MOCK_URL=<url>`.
 */
export async function startMock(args: string[], stdin?: string): Promise<{ url: string; kill: () => void }> {
  const proc = spawn(process.execPath, [join(ROOT, "node_modules/tsx/dist/cli.mjs"), ...args], { stdio: ["pipe", "pipe", "inherit"] });
  if (stdin !== undefined) proc.stdin!.end(stdin);
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    proc.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(/MOCK_URL=(\S+)/);
      if (m) resolve(m[1]!);
    });
    proc.once("exit", (code) => reject(new Error(`mock exited with ${code}`)));
  });
  return { url, kill: () => void proc.kill("SIGTERM") };
}
