/**
 * `/endpoints` (managers): the upstream servers models are hosted on. The upstream `api_key` is
 * write-only: it is sealed with AES-GCM under ENCRYPTION_KEY before it reaches Postgres and is
 * never returned; responses say only `has_api_key`.
 */
import type { Context } from "hono";
import * as z from "zod";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { encryptSecret, importSecretKey } from "../../../../shared/secret-box.ts";
import { ConfigError } from "../config.ts";
import type { AdminApp } from "./principal.ts";
import { ConflictError, foreignKeyViolation, notFound, Pagination, uniqueViolation, type Page, type AdminInput } from "./validation.ts";

export const EndpointView = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  url: z.string(),
  has_api_key: z.boolean().describe("Whether an upstream api_key is stored (it is never returned)"),
  auth_header_name: z.string(),
  auth_header_prefix: z.string(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type EndpointView = z.output<typeof EndpointView>;

type EndpointRow = Omit<EndpointView, "created_at" | "updated_at"> & { created_at: Date | string; updated_at: Date | string };

// api_key_encrypted is reduced to a boolean in SQL, so the ciphertext never even reaches the worker's response path.
const ENDPOINT_COLUMNS = `id, name, description, url, api_key_encrypted IS NOT NULL AS has_api_key,
  auth_header_name, auth_header_prefix, created_at, updated_at`;

function toView(row: EndpointRow): EndpointView {
  return { ...row, created_at: new Date(row.created_at).toISOString(), updated_at: new Date(row.updated_at).toISOString() };
}

// The gateway forwards to this URL with credentials attached: only plain http(s), no userinfo.
const UpstreamUrl = z
  .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
  .max(2048)
  .refine((u) => {
    // zod runs every check even after the URL check failed; that one already reported the problem.
    if (!URL.canParse(u)) return true;
    const parsed = new URL(u);
    return parsed.username === "" && parsed.password === "";
  }, { error: "must not contain credentials; send them as api_key" });

// RFC 9110 §5.6.2 token: what a header name may be.
const HeaderName = z.string().min(1).max(100).regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: "must be an HTTP header name" });
// No CR/LF/NUL: the prefix is written into a header value.
const HeaderPrefix = z.string().max(100).regex(/^[^\r\n\0]*$/, { error: "must not contain line breaks" });

const EndpointFields = {
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).nullable().optional(),
  url: UpstreamUrl,
  api_key: z.string().min(1).max(4096).nullable().optional(),
  auth_header_name: HeaderName.optional(),
  auth_header_prefix: HeaderPrefix.optional(),
};
export const CreateEndpoint = z.strictObject(EndpointFields);
export const PatchEndpoint = z.strictObject(EndpointFields).partial();

async function seal(encryptionKey: string | undefined, apiKey: string | null | undefined): Promise<string | null | undefined> {
  if (apiKey === undefined || apiKey === null) return apiKey;
  if (!encryptionKey) throw new ConfigError("ENCRYPTION_KEY is not set: it is needed to store upstream API keys (wrangler secret put ENCRYPTION_KEY).");
  return encryptSecret(await importSecretKey(encryptionKey), apiKey);
}

function conflictOrRethrow(err: unknown): never {
  if (uniqueViolation(err) !== null) throw new ConflictError("An endpoint with this name already exists.", "name");
  throw err;
}

async function findEndpoint(db: SqlClient, id: string): Promise<EndpointView> {
  const { rows } = await db.query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM inference_endpoints WHERE id = $1`, [id]);
  if (!rows[0]) throw notFound("endpoint", id);
  return toView(rows[0]);
}

export async function listEndpoints(c: Context<AdminApp>, parsed: AdminInput<never, typeof Pagination>): Promise<Response> {
  const { skip, limit } = parsed.query;
  // One after the other: an admin request holds at most one connection.
  const page = await c.get("db").query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM inference_endpoints ORDER BY created_at, id LIMIT $1 OFFSET $2`, [limit, skip]);
  const count = await c.get("db").query<{ n: number }>("SELECT count(*)::int AS n FROM inference_endpoints");
  const body: Page<EndpointView> = { data: page.rows.map(toView), total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

export async function createEndpoint(c: Context<AdminApp>, parsed: AdminInput<never, undefined, typeof CreateEndpoint>): Promise<Response> {
  const input = parsed.body;
  const sealed = await seal(c.get("config").ENCRYPTION_KEY, input.api_key);
  try {
    const { rows } = await c.get("db").query<EndpointRow>(
      `INSERT INTO inference_endpoints (name, description, url, api_key_encrypted, auth_header_name, auth_header_prefix, created_by)
       VALUES ($1, $2, $3, $4, coalesce($5, 'Authorization'), coalesce($6, 'Bearer '), $7) RETURNING ${ENDPOINT_COLUMNS}`,
      [input.name, input.description ?? null, input.url, sealed ?? null, input.auth_header_name ?? null, input.auth_header_prefix ?? null, c.get("actor").userId],
    );
    return c.json(toView(rows[0]!), 201);
  } catch (err) {
    conflictOrRethrow(err);
  }
}

export async function getEndpoint(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  return c.json(await findEndpoint(c.get("db"), parsed.params.id));
}

export async function patchEndpoint(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof PatchEndpoint>): Promise<Response> {
  const id = parsed.params.id;
  const input = parsed.body;
  // Column ← value for each field the body names; `api_key: null` clears the stored key.
  const sets: [string, unknown][] = [];
  if (input.name !== undefined) sets.push(["name", input.name]);
  if (input.description !== undefined) sets.push(["description", input.description]);
  if (input.url !== undefined) sets.push(["url", input.url]);
  if (input.api_key !== undefined) sets.push(["api_key_encrypted", await seal(c.get("config").ENCRYPTION_KEY, input.api_key)]);
  if (input.auth_header_name !== undefined) sets.push(["auth_header_name", input.auth_header_name]);
  if (input.auth_header_prefix !== undefined) sets.push(["auth_header_prefix", input.auth_header_prefix]);
  if (sets.length === 0) return c.json(await findEndpoint(c.get("db"), id));
  const assignments = sets.map(([column], i) => `${column} = $${i + 2}`).join(", ");
  try {
    const { rows } = await c.get("db").query<EndpointRow>(
      `UPDATE inference_endpoints SET ${assignments}, updated_at = now() WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
      [id, ...sets.map(([, value]) => value)],
    );
    if (!rows[0]) throw notFound("endpoint", id);
    return c.json(toView(rows[0]));
  } catch (err) {
    conflictOrRethrow(err);
  }
}

export async function deleteEndpoint(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  try {
    const { rows } = await c.get("db").query<{ id: string }>("DELETE FROM inference_endpoints WHERE id = $1 RETURNING id", [id]);
    if (!rows[0]) throw notFound("endpoint", id);
    return c.body(null, 204);
  } catch (err) {
    // Models (deleted ones included: their analytics still name them) keep the endpoint alive.
    if (foreignKeyViolation(err)) throw new ConflictError("Models are hosted on this endpoint; move or delete them first.");
    throw err;
  }
}
