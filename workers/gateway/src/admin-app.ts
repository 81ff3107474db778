/**
 * Everything under `/admin` except its docs page: console sign-in, the admin door and the admin
 * API, as an app of its own. The gateway imports it on the first `/admin` request (app.ts), so an
 * isolate that only serves inference never builds the admin API's route table and schemas, which
 * were about a third of a fresh isolate's start-up (docs/benchmarks.md, "Cold start").
 */
import { Hono } from "hono";
import { requireAdmin } from "./admin-auth.ts";
import { adminRouter } from "./admin/router.ts";
import { answerErrors } from "./answer-errors.ts";
import { authRouter } from "./auth/routes.ts";
import { init } from "./init.ts";
import type { GatewayApp } from "./types.ts";

export function newAdminApp(): Hono<GatewayApp> {
  const app = new Hono<GatewayApp>();
  answerErrors(app);
  // The request's services (config, a lazy database handle), as on /ai/*.
  app.use("/admin/*", init);
  // Console sign-in: before the door, which these routes open (docs/auth.md).
  app.route("/admin/auth", authRouter());
  // Everything else under /admin needs admin credentials before it can even learn a route exists.
  app.use("/admin/*", requireAdmin);
  app.route("/admin", adminRouter());
  return app;
}
