/**
 * The admin API under `/admin`, wiring only. It is mounted behind the gateway's `requireAdmin`
 * door; `adminContext` then resolves the caller's roles. The routes come from the route table
 * (`routes.ts`), which the OpenAPI document is built from too.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../../../../shared/errors.ts";
import { adminOpenApiDocument } from "./openapi.ts";
import { adminContext, managersOnly, type AdminApp } from "./principal.ts";
import { ADMIN_API_PREFIX, ADMIN_ROUTES, honoPath, type AdminRoute } from "./routes.ts";

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
    const handler = validatedResponses(route);
    if (route.managersOnly) admin.on(method, honoPath(route.path), managersOnly, handler);
    else admin.on(method, honoPath(route.path), handler);
  }
  return admin;
}

/**
 * The handler, with its success body checked against the route's response schema (the one the
 * OpenAPI document publishes): a body that does not match is never sent — the caller gets a 500
 * and the operator a log line naming the field — so the document cannot silently drift from what
 * the API answers.
 */
function validatedResponses(route: AdminRoute): (c: Context<AdminApp>) => Promise<Response> {
  const schema = route.response.schema;
  if (!schema) return route.handler;
  return async (c) => {
    const res = await route.handler(c);
    if (res.status !== route.response.status && res.status !== route.alsoReturns?.status) return res;
    const result = schema.safeParse(await res.clone().json());
    if (result.success) return res;
    const issue = result.error.issues[0];
    console.error(`admin ${route.method.toUpperCase()} ${route.path}: response does not match its schema at '${issue?.path.join(".") ?? ""}': ${issue?.message ?? "invalid"}`);
    throw new ApiError("internal_error", "The admin API produced an answer that does not match its documented schema. Please report this.");
  };
}
