/**
 * The admin API under `/admin`, wiring only. It is mounted behind the gateway's `requireAdmin`
 * door; `adminContext` then resolves the caller's roles. The routes come from the route table
 * (`routes.ts`), which the OpenAPI document is built from too.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../../../../shared/errors.ts";
import { adminOpenApiDocument } from "./openapi.ts";
import { adminContext, managersOnly, type AdminApp } from "./principal.ts";
import { ADMIN_API_PREFIX, ADMIN_ROUTES, honoPath } from "./routes.ts";

// Admin bodies are small documents; a fixed cap keeps a stray upload from reaching the parser.
const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

export function adminRouter(): Hono<AdminApp> {
  const admin = new Hono<AdminApp>();
  admin.get("/openapi.json", (c) => c.json(adminOpenApiDocument()));

  admin.use(
    `${ADMIN_API_PREFIX}/*`,
    bodyLimit({
      maxSize: MAX_ADMIN_BODY_BYTES,
      onError: () => {
        throw new ApiError("request_too_large", `The request body is larger than the ${MAX_ADMIN_BODY_BYTES}-byte limit.`);
      },
    }),
    adminContext,
  );
  for (const route of ADMIN_ROUTES) {
    const method = route.method.toUpperCase();
    if (route.managersOnly) admin.on(method, honoPath(route.path), managersOnly, route.handler);
    else admin.on(method, honoPath(route.path), route.handler);
  }
  return admin;
}
