/**
 * `node bench/v8-import.mjs <bundle.js>`: parses, compiles and runs a worker bundle's top-level code
 * in Node's V8, with `cloudflare:workers` stubbed (classes and an empty `env`), and prints the
 * milliseconds that took. bench:coldstart runs it in fresh processes: what a bundle's start-up
 * costs in the engine, without workerd's and Miniflare's own start-up around it.
 */
import { register } from "node:module";

const STUB = "export class DurableObject { constructor() {} } export class WorkerEntrypoint {} export const env = {};";
const HOOKS = `export async function resolve(specifier, context, next) {
  if (specifier === "cloudflare:workers") return { url: "data:text/javascript,${encodeURIComponent(STUB)}", shortCircuit: true };
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`);

const { pathToFileURL } = await import("node:url");
const started = performance.now();
await import(pathToFileURL(process.argv[2]).href);
console.log((performance.now() - started).toFixed(2));
