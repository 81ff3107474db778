/**
 * The request's services, built once by one middleware on `/ai/*` and `/admin/*`: the parsed
 * config (`c.var.config`) and a lazy database handle (`c.var.database`) that opens a pool only
 * when a handler needs one and closes it, off the response path, after the request.
 */
import { createMiddleware } from "hono/factory";
import { RequestDb } from "./access.ts";
import { gatewayConfig } from "./config.ts";
import type { GatewayApp } from "./types.ts";

export const init = createMiddleware<GatewayApp>(async function init(c, next) {
  const config = gatewayConfig(c.env);
  const database = new RequestDb(config);
  c.set("config", config);
  c.set("database", database);
  try {
    await next();
  } finally {
    database.close((p) => c.executionCtx.waitUntil(p));
  }
});
