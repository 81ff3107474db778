/**
 * Hono's default router (SmartRouter: RegExpRouter, else TrieRouter) with its answers remembered
 * per method and path. The gateway's routes make RegExpRouter give up, so Hono falls back to
 * TrieRouter, which walks its tree on every request (tens of µs of CPU per inference request under
 * bench:gateway's profile, docs/benchmarks.md). The routes never change once the app is built and
 * a match depends only on the method and the path, so a path seen before is answered from a small
 * bounded map: the same result object, which Hono only reads.
 */
import type { Result, Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";

/** Paths remembered (the oldest goes first); longer paths are matched every time. */
const MAX_ENTRIES = 512;
const MAX_PATH_LENGTH = 256;

export class MemoRouter<T> implements Router<T> {
  name = "MemoRouter";
  private readonly inner: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] });
  private readonly results = new Map<string, Result<T>>();

  add(method: string, path: string, handler: T): void {
    this.results.clear();
    this.inner.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    if (path.length > MAX_PATH_LENGTH) return this.inner.match(method, path);
    const key = `${method} ${path}`;
    let result = this.results.get(key);
    if (result === undefined) {
      result = this.inner.match(method, path);
      if (this.results.size >= MAX_ENTRIES) this.results.delete(this.results.keys().next().value!);
      this.results.set(key, result);
    }
    return result;
  }
}
