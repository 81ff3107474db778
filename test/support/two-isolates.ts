/**
 * Two isolates of one worker script in one workerd (Miniflare workers "a" and "b"), sharing the
 * Durable Objects that "a" defines: how the unit tests check that a limit holds across isolates.
 * Each isolate is reached on its own socket, as production reaches separate isolates.
 */
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { join } from "node:path";
import { ROOT } from "../../dev/stack.ts";

export interface Isolate {
  fetch(path: string): Promise<Response>;
}

export interface TwoIsolates {
  isolates: [Isolate, Isolate];
  dispose(): Promise<void>;
}

/**
 * Bundles `entry` (a path under the repository) and starts it twice. `objects` maps each Durable
 * Object binding to its class: "a" hosts the objects, "b" binds to "a"'s.
 */
export async function startTwoIsolates(entry: string, objects: Record<string, string>): Promise<TwoIsolates> {
  const bundle = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    external: ["cloudflare:workers", "node:*"],
  });
  const common = {
    modules: true,
    script: bundle.outputFiles[0]!.text,
    compatibilityDate: "2026-04-20",
    compatibilityFlags: ["nodejs_compat"],
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  };
  const shared = Object.fromEntries(Object.entries(objects).map(([binding, className]) => [binding, { className, scriptName: "a" }]));
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    workers: [
      { ...common, name: "a", durableObjects: objects },
      { ...common, name: "b", durableObjects: shared },
    ],
  });
  await mf.ready;
  const [a, b] = await Promise.all(
    ["a", "b"].map(async (name): Promise<Isolate> => {
      const base = await mf.unsafeGetDirectURL(name);
      return { fetch: (path: string) => fetch(new URL(path, base)) };
    }),
  );
  return { isolates: [a!, b!], dispose: () => mf.dispose() };
}
