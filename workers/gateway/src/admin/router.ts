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
import { parseBody, parseQuery, parseValue, pathNotFound } from "./validation.ts";

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
    const handler = validatedResponses(route, validatedInput(route));
    if (route.managersOnly) admin.on(method, honoPath(route.path), managersOnly, handler);
    else admin.on(method, honoPath(route.path), handler);
  }
  return admin;
}

/**
 * The handler, called with the request's path parameters, query and body parsed by the route's
 * schemas: an id that is not one is the 404 a missing row gets, a bad query or body the 400 that
 * names the field (validation.ts). A route without a query or body schema reads none.
 */
function validatedInput(route: AdminRoute): (c: Context<AdminApp>) => Promise<Response> {
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const declared = Object.keys(route.params ?? {});
  if (names.length !== declared.length || names.some((n) => !declared.includes(n))) {
    throw new Error(`admin route ${route.method.toUpperCase()} ${route.path}: params must name exactly its path parameters`);
  }
  return async function withInput(c) {
    const params: Record<string, string> = {};
    for (const [name, schema] of Object.entries(route.params ?? {})) {
      const raw = c.req.param(name) ?? "";
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const missing = pathNotFound(schema, raw);
        if (missing) throw missing;
        parseValue(schema, raw, "path"); // throws the 400 naming the parameter
      }
      params[name] = parsed.success ? parsed.data : raw;
    }
    const query = route.query ? parseQuery(c, route.query) : undefined;
    const body = route.body ? await parseBody(c, route.body) : undefined;
    return route.handler(c, { params, query, body });
  };
}

/**
 * The handler, with its success body checked against the route's response schema (the one the
 * OpenAPI document publishes): a body that does not match is never sent — the caller gets a 500
 * and the operator a log line naming the field — so the document cannot silently drift from what
 * the API answers.
 */
function validatedResponses(route: AdminRoute, handler: (c: Context<AdminApp>) => Promise<Response>): (c: Context<AdminApp>) => Promise<Response> {
  const schema = route.response.schema;
  if (!schema) return handler;
  return async (c) => {
    const res = await handler(c);
    if (res.status !== route.response.status && res.status !== route.alsoReturns?.status) return res;
    const result = schema.safeParse(await res.clone().json());
    if (result.success) return res;
    const issue = result.error.issues[0];
    console.error(`admin ${route.method.toUpperCase()} ${route.path}: response does not match its schema at '${issue?.path.join(".") ?? ""}': ${issue?.message ?? "invalid"}`);
    throw new ApiError("internal_error", "The admin API produced an answer that does not match its documented schema. Please report this.");
  };
}
