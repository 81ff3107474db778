/**
 * `GET /admin/openapi.json`: an OpenAPI 3.1 document built from the admin route table and the very
 * zod schemas the handlers parse with (zod 4 emits JSON Schema 2020-12, which OpenAPI 3.1 uses
 * as is), so the document describes what the code accepts. Built once per isolate: it is pure.
 */
import * as z from "zod";
import { ERROR_ENVELOPE_JSON_SCHEMA } from "../../../../shared/errors.ts";
import { ADMIN_API_PREFIX, ADMIN_ROUTES, type AdminRoute } from "./routes.ts";

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  // `unrepresentable: "any"`: a refinement the format cannot express still documents its type.
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
}


const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });

function operation(route: AdminRoute): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = [];
  for (const [, name] of route.path.matchAll(/\{(\w+)\}/g)) {
    parameters.push({ name, in: "path", required: true, schema: { type: "string" } });
  }
  parameters.push({
    name: "X-Organization-Id",
    in: "header",
    required: false,
    description: "Act for this organization (you must belong to it; managers may name any): `current` means it, and lists are scoped to it. The `tollgate_org` cookie does the same.",
    schema: { type: "string", format: "uuid" },
  });
  if (route.query) {
    const query = jsonSchema(route.query, "input");
    const properties = (query.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((query.required ?? []) as string[]);
    for (const [name, schema] of Object.entries(properties)) parameters.push({ name, in: "query", required: required.has(name), schema });
  }
  const { status, schema } = route.response;
  const responses: Record<string, unknown> = {
    [status]: schema ? { description: "OK", content: { "application/json": { schema: jsonSchema(schema, "output") } } } : { description: "Done; no body" },
    400: errorResponse("Invalid input; `param` names the field"),
    401: errorResponse("Missing or unknown credentials"),
    403: errorResponse(route.managersOnly ? "Not a platform_manager, or an inference key" : "An inference key, or an action reserved to managers"),
    404: errorResponse("No such resource, or it belongs to someone else"),
  };
  if (route.alsoReturns && schema) {
    responses[route.alsoReturns.status] = { description: route.alsoReturns.description, content: { "application/json": { schema: jsonSchema(schema, "output") } } };
  }
  if (route.conflicts) responses[409] = errorResponse("Conflicts with an existing resource");
  return {
    summary: route.summary,
    tags: [route.tag],
    operationId: `${route.method}${route.path.replace(/[{}]/g, "").replace(/[/-](\w)/g, (_, ch: string) => ch.toUpperCase())}`,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(route.body, "input") } } } } : {}),
    responses,
  };
}

let cached: Record<string, unknown> | undefined;

export function adminOpenApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ADMIN_ROUTES) {
    (paths[`/admin${ADMIN_API_PREFIX}${route.path}`] ??= {})[route.method] = operation(route);
  }
  cached = {
    openapi: "3.1.0",
    info: {
      title: "Tollgate admin API",
      version: "1",
      description:
        "Users, organizations, groups, API keys, inference endpoints, models, tariffs, prompt-cache pricing, credits, usage analytics and stored responses. Authenticate with the ADMIN_TOKEN or a platform key; a platform key acts with its owner's roles.",
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "The ADMIN_TOKEN or a `platform`-purpose API key" } },
      schemas: { Error: ERROR_ENVELOPE_JSON_SCHEMA },
    },
  };
  return cached;
}
