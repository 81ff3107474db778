/**
 * The admin API's input boundary: every body, query and path id is parsed with zod, and the first
 * problem becomes a 400 `invalid_request_error` whose `param` names the field (`tariffs[1].purpose`).
 */
import type { Context } from "hono";
import * as z from "zod";
import { ApiError } from "../../../../shared/errors.ts";
import { UUID } from "../../../../shared/uuid.ts";

/**
 * 409 `conflict` for a uniqueness clash (alias, username, endpoint name, …); its envelope's type is
 * `invalid_request_error`, which is what OpenAI SDKs expect for a request that cannot be applied
 * as sent.
 */
export class ConflictError extends ApiError {
  constructor(message: string, param: string | null = null) {
    super("conflict", message, { param });
    this.name = "ConflictError";
  }
}

/** `a.b[2].c` from a zod issue path: the spelling clients use to find the field in their JSON. */
export function paramOf(path: readonly PropertyKey[]): string | null {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || null;
}

function firstIssueAsError(error: z.ZodError, where: string): ApiError {
  const issue = error.issues[0];
  if (!issue) return new ApiError("invalid_request_error", `Invalid ${where}.`);
  // An unknown key has an empty path; name the key itself so a typo is easy to spot.
  const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path;
  const param = paramOf(path);
  const detail = issue.code === "unrecognized_keys" ? "unknown field" : issue.message;
  return new ApiError("invalid_request_error", param ? `Invalid ${where} field '${param}': ${detail}.` : `Invalid ${where}: ${detail}.`, { param });
}

export function parseValue<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw firstIssueAsError(result.error, where);
  return result.data;
}

/** The JSON body, parsed with `schema`. */
export async function parseBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new ApiError("invalid_request_error", "The request body must be valid JSON.");
  }
  return parseValue(schema, raw, "body");
}

/** The query string, parsed with `schema` (values arrive as strings; coerce in the schema). */
export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return parseValue(schema, c.req.query(), "query");
}


/**
 * What the admin router hands a handler (routes.ts): the path parameters, query and body, parsed
 * with the route table's schemas. `undefined` where the route declares none.
 *
 *   export async function patchModel(c: Context<AdminApp>, { params, body }: AdminInput<"id", undefined, typeof PatchModel>)
 */
export interface AdminInput<Params extends string = never, Query extends z.ZodType | undefined = undefined, Body extends z.ZodType | undefined = undefined> {
  params: Record<Params, string>;
  query: Query extends z.ZodType ? z.output<Query> : undefined;
  body: Body extends z.ZodType ? z.output<Body> : undefined;
}

/** The 404 each path schema answers a value it refuses with, for the router. */
const PATH_NOT_FOUND = new WeakMap<z.ZodType, (value: string) => ApiError>();

/**
 * A route table's path id: a UUID, lower-cased. The router answers anything else with a 404
 * (`No ${what} with id '…'`), never a 400: the id's shape tells the caller nothing.
 * `current: true` also admits the literal `current` (the caller, or their active organization).
 */
export function pathIdSchema(what: string, options: { current?: boolean } = {}): z.ZodType<string, string> {
  const uuid = z.string().regex(UUID).transform((v) => v.toLowerCase());
  const schema = options.current ? z.union([z.literal("current"), uuid]) : uuid;
  PATH_NOT_FOUND.set(schema, (value) => notFound(what, value));
  return schema;
}

/**
 * A route table's path key of another shape (a `resp_…` id, a row number, a link's token): a
 * value that does not match `pattern` names nothing, so the router answers `missing(value)`.
 */
export function pathKeySchema(pattern: RegExp, missing: (value: string) => ApiError): z.ZodType<string, string> {
  const schema = z.string().regex(pattern);
  PATH_NOT_FOUND.set(schema, missing);
  return schema;
}

/** The router's 404 for a path value its schema refuses, or null for a plain 400. */
export function pathNotFound(schema: z.ZodType, value: string): ApiError | null {
  return PATH_NOT_FOUND.get(schema)?.(value) ?? null;
}

export function notFound(what: string, id: string): ApiError {
  return new ApiError("not_found", `No ${what} with id '${id.slice(0, 64)}'.`);
}

export const Pagination = z.strictObject({
  skip: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type Pagination = z.output<typeof Pagination>;

export interface Page<T> {
  data: T[];
  total_count: number;
  skip: number;
  limit: number;
}

/**
 * Money and per-token prices as decimal strings: never a JS float. Non-negative by construction
 * (no sign allowed), bounded in length so NUMERIC never sees something absurd.
 */
export const DecimalString = z
  .string()
  .max(40)
  .regex(/^\d+(\.\d+)?$/, { error: "must be a non-negative decimal string such as \"0.000002\"" });

export const RateLimitFields = {
  requests_per_second: z.number().positive().max(1_000_000).nullable().optional(),
  burst_size: z.number().int().positive().max(1_000_000).nullable().optional(),
};

/** Postgres unique violation on a named constraint (the Neon driver surfaces pg's error fields). */
export function uniqueViolation(err: unknown): string | null {
  if (typeof err === "object" && err !== null && "code" in err && err.code === "23505") {
    const constraint = "constraint" in err && typeof err.constraint === "string" ? err.constraint : "";
    return constraint;
  }
  return null;
}

/** Postgres foreign-key violation (a referenced row is missing, or a row is still referenced). */
export function foreignKeyViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && "code" in err && err.code === "23503";
}

/** The item schema of each pageOf() schema: the OpenAPI document names a page after its item. */
export const PAGE_ITEMS = new WeakMap<z.ZodType, z.ZodType>();

const PAGES = new WeakMap<z.ZodType, z.ZodType>();

function newPage<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), total_count: z.number().int(), skip: z.number().int(), limit: z.number().int() });
}

/** The response schema of a paginated list of `item`: one schema per item (one OpenAPI component). */
export function pageOf<T extends z.ZodType>(item: T): ReturnType<typeof newPage<T>> {
  let page = PAGES.get(item) as ReturnType<typeof newPage<T>> | undefined;
  if (!page) {
    page = newPage(item);
    PAGES.set(item, page);
    PAGE_ITEMS.set(page, item);
  }
  return page;
}

/** Bounds on free-form JSON stored from admin bodies (`metadata`): nesting and serialized size. */
export const METADATA_MAX_DEPTH = 32;
export const METADATA_MAX_BYTES = 16 * 1024;

/** Nesting depth of a JSON value (a scalar is 0), counted without recursion; stops past `limit`. */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    const here = depth + 1;
    deepest = Math.max(deepest, here);
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, here]);
  }
  return deepest;
}

/**
 * A JSON object of the caller's own (`metadata`): at most METADATA_MAX_DEPTH levels deep and
 * METADATA_MAX_BYTES of JSON. Postgres' jsonb (and JSON.stringify) recurse, so an unbounded
 * document could exhaust their stacks; the depth is checked first, without recursion.
 */
export const JsonMetadata = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  if (jsonDepth(value, METADATA_MAX_DEPTH) > METADATA_MAX_DEPTH) {
    ctx.addIssue({ code: "custom", message: `nested deeper than ${METADATA_MAX_DEPTH} levels` });
  } else if (new TextEncoder().encode(JSON.stringify(value)).length > METADATA_MAX_BYTES) {
    ctx.addIssue({ code: "custom", message: `larger than ${METADATA_MAX_BYTES} bytes of JSON` });
  }
});
