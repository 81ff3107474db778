/**
 * `GET /admin/openapi.json`: an OpenAPI 3.1 document built from the admin route table and the very
 * zod schemas the router parses with (zod 4 emits JSON Schema 2020-12, which OpenAPI 3.1 uses
 * as is), so the document describes what the code accepts. Every body and response schema is a
 * named component (`#/components/schemas/UserView`; a page of them `UserViewPage`), written once
 * however many operations use it. Built once per isolate: it is pure.
 */
import * as z from "zod";
import { ERROR_ENVELOPE_JSON_SCHEMA } from "../../../../shared/errors.ts";
import { ADMIN_API_PREFIX, ADMIN_ROUTES, SCHEMA_NAMES, type AdminRoute } from "./routes.ts";
import { PAGE_ITEMS } from "./validation.ts";

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  // `unrepresentable: "any"`: a refinement the format cannot express still documents its type.
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
}


const REF_PREFIX = "#/components/schemas/";

/**
 * The named schemas of the document, in two registries: request bodies are described as input
 * (what a client may send: defaults optional), responses as output (what the API answers).
 */
class Components {
  readonly input = z.registry<{ id: string }>();
  readonly output = z.registry<{ id: string }>();
  private readonly taken = new Set<string>();

  /** A `$ref` to `schema`, registering it (and a page's item) under its name on first use. */
  ref(schema: z.ZodType, io: "input" | "output", fallback: string): JsonSchema {
    const registry = this[io];
    let id = registry.get(schema)?.id;
    if (id === undefined) {
      const item = PAGE_ITEMS.get(schema);
      if (item) this.ref(item, io, `${fallback}Item`);
      const base = item ? `${this.nameOf(item, io)}Page` : (SCHEMA_NAMES.get(schema) ?? fallback);
      id = this.taken.has(base) ? `${base}${io === "input" ? "Input" : "Output"}` : base;
      for (let n = 2; this.taken.has(id); n++) id = `${base}${n}`;
      this.taken.add(id);
      registry.add(schema, { id });
    }
    return { $ref: `${REF_PREFIX}${id}` };
  }

  private nameOf(schema: z.ZodType, io: "input" | "output"): string {
    return this[io].get(schema)!.id;
  }

  /** Every registered schema as JSON Schema, references between them as `$ref`s. */
  schemas(): Record<string, JsonSchema> {
    const out: Record<string, JsonSchema> = {};
    for (const io of ["input", "output"] as const) {
      const { schemas } = z.toJSONSchema(this[io], { io, unrepresentable: "any", uri: (id) => `${REF_PREFIX}${id}` }) as { schemas: Record<string, JsonSchema> };
      for (const [id, { $schema: _dialect, id: _id, ...schema }] of Object.entries(schemas)) out[id] = schema;
    }
    return out;
  }
}

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });

function operation(route: AdminRoute, components: Components): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = [];
  for (const [, name] of route.path.matchAll(/\{(\w+)\}/g)) {
    const param = route.params?.[name!];
    parameters.push({ name, in: "path", required: true, schema: param ? jsonSchema(param, "input") : { type: "string" } });
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
  const operationId = `${route.method}${route.path.replace(/[{}]/g, "").replace(/[/-](\w)/g, (_, ch: string) => ch.toUpperCase())}`;
  const name = operationId.charAt(0).toUpperCase() + operationId.slice(1);
  const { status, schema } = route.response;
  const responseSchema = schema ? components.ref(schema, "output", `${name}Response`) : undefined;
  const responses: Record<string, unknown> = {
    [status]: responseSchema ? { description: "OK", content: { "application/json": { schema: responseSchema } } } : { description: "Done; no body" },
    400: errorResponse("Invalid input; `param` names the field"),
    401: errorResponse("Missing or unknown credentials"),
    403: errorResponse(route.managersOnly ? "Not a platform_manager, or an inference key" : "An inference key, or an action reserved to managers"),
    404: errorResponse("No such resource, or it belongs to someone else"),
  };
  if (route.alsoReturns && responseSchema) {
    responses[route.alsoReturns.status] = { description: route.alsoReturns.description, content: { "application/json": { schema: responseSchema } } };
  }
  if (route.conflicts) responses[409] = errorResponse("Conflicts with an existing resource");
  return {
    summary: route.summary,
    tags: [route.tag],
    operationId,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: components.ref(route.body, "input", `${name}Body`) } } } } : {}),
    responses,
  };
}

let cached: Record<string, unknown> | undefined;

export function adminOpenApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  const components = new Components();
  for (const route of ADMIN_ROUTES) {
    (paths[`/admin${ADMIN_API_PREFIX}${route.path}`] ??= {})[route.method] = operation(route, components);
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
      schemas: { Error: ERROR_ENVELOPE_JSON_SCHEMA, ...components.schemas() },
    },
  };
  return cached;
}
