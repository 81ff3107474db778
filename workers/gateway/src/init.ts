/**
 * The request's services, built once per request (by the `init` middleware on `/ai/*` and
 * `/admin/*`, by the inference handler itself on its routes): the parsed config (`c.var.config`)
 * and a lazy database handle (`c.var.database`) that opens a pool only when a handler needs one
 * and closes it, off the response path, after the request.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { RequestDb } from "./access.ts";
import { gatewayConfig } from "./config.ts";
import type { GatewayApp } from "./types.ts";

export async function withServices<T>(c: Context<GatewayApp>, run: () => Promise<T>): Promise<T> {
  const config = gatewayConfig(c.env);
  const database = new RequestDb(config);
  c.set("config", config);
  c.set("database", database);
  try {
    return await run();
  } finally {
    database.close((p) => c.executionCtx.waitUntil(p));
  }
}

export const init = createMiddleware<GatewayApp>(async function init(c, next) {
  await withServices(c, next);
});
