/**
 * `/models` (managers): deployed models, addressed by clients through their unique `alias`.
 * `open_to_everyone` is membership of the built-in Everyone group, which is what the gateway's
 * access gate reads. Deletion is soft: the alias stays reserved so analytics rows keep meaning one
 * model.
 */
import type { Context } from "hono";
import * as z from "zod";
import { withTransaction } from "../../../../shared/db.ts";
import { ApiError } from "../../../../shared/errors.ts";
import { BACKOFF_JITTERS, LB_STRATEGIES, ROUTING_DEFAULTS } from "../../../../shared/routing.ts";
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { UUID } from "../../../../shared/uuid.ts";
import { EVERYONE_GROUP } from "../lookups.ts";
import type { AdminApp } from "./principal.ts";
import { ConflictError, foreignKeyViolation, notFound, Pagination, RateLimitFields, uniqueViolation, type Page, JsonMetadata, type AdminInput } from "./validation.ts";

const MODEL_TYPES = ["chat", "embeddings", "reranker"] as const;

export const ModelView = z.object({
  id: z.uuid(),
  model_name: z.string().nullable().describe("The name the upstream knows (null for a composite model)"),
  alias: z.string().describe("The name clients send as `model`"),
  hosted_on: z.uuid().nullable().describe("The endpoint serving it (null for a composite model)"),
  description: z.string().nullable(),
  model_type: z.enum(MODEL_TYPES),
  requests_per_second: z.number().nullable(),
  burst_size: z.number().int().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  open_to_everyone: z.boolean(),
  tokenizer_url: z.string().nullable().describe("External tokenizer service for prompt caching; null = the built-in tokenizer"),
  responses_via_chat: z.boolean().describe("POST /ai/v1/responses is translated to the upstream's /chat/completions (and the answer back)"),
  on_client_disconnect: z.enum(["cancel", "drain"]).describe("When a streaming client goes away: cancel the upstream at once (bill what was produced) or drain it (exact upstream usage)"),
  capacity: z.number().int().nullable().describe("Most requests in flight at once, across isolates; null = unlimited"),
  is_composite: z.boolean().describe("Routed over component models (GET /models/{id}/components)"),
  lb_strategy: z.enum(LB_STRATEGIES),
  fallback_enabled: z.boolean(),
  fallback_on_status: z.array(z.number().int()),
  fallback_on_rate_limit: z.boolean(),
  fallback_with_replacement: z.boolean(),
  fallback_max_attempts: z.number().int(),
  backoff_initial_ms: z.number().int(),
  backoff_max_ms: z.number().int(),
  backoff_factor: z.number(),
  backoff_jitter: z.enum(BACKOFF_JITTERS),
  backoff_max_total_ms: z.number().int().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type ModelView = z.output<typeof ModelView>;

type ModelRow = Omit<ModelView, "created_at" | "updated_at"> & { created_at: Date | string; updated_at: Date | string };

const MODEL_COLUMNS = `dm.id, dm.model_name, dm.alias, dm.hosted_on, dm.description, dm.model_type,
  dm.requests_per_second::float8 AS requests_per_second, dm.burst_size, dm.metadata,
  EXISTS (SELECT 1 FROM deployment_groups dg WHERE dg.deployment_id = dm.id AND dg.group_id = '${EVERYONE_GROUP}') AS open_to_everyone,
  dm.tokenizer_url, dm.responses_via_chat, dm.on_client_disconnect, dm.capacity, dm.is_composite, dm.lb_strategy,
  dm.fallback_enabled, dm.fallback_on_status, dm.fallback_on_rate_limit, dm.fallback_with_replacement, dm.fallback_max_attempts,
  dm.backoff_initial_ms, dm.backoff_max_ms, dm.backoff_factor::float8 AS backoff_factor, dm.backoff_jitter, dm.backoff_max_total_ms,
  dm.created_at, dm.updated_at`;

function toView(row: ModelRow): ModelView {
  return { ...row, created_at: new Date(row.created_at).toISOString(), updated_at: new Date(row.updated_at).toISOString() };
}

// What a client sends as `model`: printable, no spaces, so it survives URLs and logs unchanged.
const Alias = z.string().trim().min(1).max(200).regex(/^[A-Za-z0-9._:/@-]+$/, { error: "letters, digits and . _ : / @ - only" });
const HostedOn = z.string().regex(UUID, { error: "must be an endpoint id" });

const ModelFields = {
  model_name: z.string().trim().min(1).max(200),
  alias: Alias,
  hosted_on: HostedOn,
  description: z.string().max(2000).nullable().optional(),
  model_type: z.enum(MODEL_TYPES).optional(),
  ...RateLimitFields,
  // Any JSON object within the bounds (the body is JSON, so its values are JSON values).
  metadata: JsonMetadata.optional(),
  open_to_everyone: z.boolean().optional(),
  tokenizer_url: z
    .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
    .max(2048)
    .nullable()
    .optional()
    .describe("Base URL of a tokenizer service (GET /v1/models, POST /v1/tokenize) that counts this model's prompt tokens for caching"),
  responses_via_chat: z
    .boolean()
    .optional()
    .describe("Serve POST /ai/v1/responses through the upstream's /chat/completions, for model servers without a Responses API"),
  on_client_disconnect: z
    .enum(["cancel", "drain"])
    .optional()
    .describe("When a streaming client goes away: `cancel` (default) stops the upstream at once and bills the prompt plus what was produced; `drain` reads it to the end for the upstream's exact usage"),
  capacity: z.number().int().min(1).max(1_000_000).nullable().optional().describe("Most requests in flight at once, across isolates; beyond it a 429 `concurrency_limit_exceeded` (a composite tries its next component)"),
};

/** How a composite routes (docs/routing.md); the defaults are the reference system's. */
const RoutingFields = {
  lb_strategy: z.enum(LB_STRATEGIES).optional().describe(`How the first component is chosen: by weight at random, or by sort_order (default ${ROUTING_DEFAULTS.lb_strategy})`),
  fallback_enabled: z.boolean().optional().describe("Try the next component when one fails before the first byte (default true)"),
  fallback_on_status: z.array(z.number().int().min(400).max(599)).max(50).optional().describe("Upstream statuses that move on to the next component (default [429, 500, 502, 503, 504]); connect errors and timeouts always do"),
  fallback_on_rate_limit: z.boolean().optional().describe("Whether an upstream 429 moves on to the next component (default true)"),
  fallback_with_replacement: z.boolean().optional().describe("Weighted picks after the first may choose a component already tried (default false)"),
  fallback_max_attempts: z.number().int().min(1).max(10).optional().describe("Most upstream attempts per request, the first included (default 3)"),
  backoff_initial_ms: z.number().int().min(0).max(60_000).optional().describe("Wait before the second attempt (default 100)"),
  backoff_max_ms: z.number().int().min(0).max(60_000).optional().describe("Longest single wait (default 5000)"),
  backoff_factor: z.number().min(1).max(10).optional().describe("Each wait is the previous times this (default 2)"),
  backoff_jitter: z.enum(BACKOFF_JITTERS).optional().describe("`full`: each wait is uniform below its ceiling; `none`: exactly it (default full)"),
  backoff_max_total_ms: z.number().int().min(0).max(600_000).nullable().optional().describe("Most time the waits of one request may add up to; no further attempt once it would be exceeded (default 10000; null = no bound)"),
};

export const CreateModel = z
  .strictObject({
    ...ModelFields,
    ...RoutingFields,
    model_name: ModelFields.model_name.optional(),
    hosted_on: HostedOn.optional(),
    alias: Alias.optional(),
    is_composite: z.boolean().optional().describe("A composite alias over component models: no model_name or hosted_on; set its components with PUT /models/{id}/components"),
  })
  .superRefine((m, ctx) => {
    if (m.is_composite) {
      for (const field of ["model_name", "hosted_on"] as const) {
        if (m[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: "a composite model has none (its components do)" });
      }
      if (m.alias === undefined) ctx.addIssue({ code: "custom", path: ["alias"], message: "required for a composite model" });
    } else {
      for (const field of ["model_name", "hosted_on"] as const) {
        if (m[field] === undefined) ctx.addIssue({ code: "custom", path: [field], message: "required (unless is_composite)" });
      }
    }
  });
export const PatchModel = z.strictObject({ ...ModelFields, ...RoutingFields }).partial();

/** The routing columns a create or patch may set, in the body's names (which are the columns'). */
const ROUTING_COLUMNS = Object.keys(RoutingFields) as (keyof typeof RoutingFields)[];

/** The live (not deleted) model, or 404; `lock` holds it for the rest of the transaction. */
export async function findModel(db: SqlClient, id: string, lock = false): Promise<ModelView> {
  const { rows } = await db.query<ModelRow>(
    `SELECT ${MODEL_COLUMNS} FROM deployed_models dm WHERE dm.id = $1 AND dm.deleted_at IS NULL${lock ? " FOR UPDATE" : ""}`,
    [id],
  );
  if (!rows[0]) throw notFound("model", id);
  return toView(rows[0]);
}

function mapWriteError(err: unknown): never {
  if (typeof err === "object" && err !== null && "code" in err && err.code === "23514" && "constraint" in err && err.constraint === "deployed_models_upstream_or_composite") {
    throw new ApiError("invalid_request_error", "A composite model has no model_name or hosted_on (its components do); an ordinary model needs both.", { param: "hosted_on" });
  }
  if (uniqueViolation(err) !== null) throw new ConflictError("A model with this alias already exists (deleted models keep theirs).", "alias");
  if (foreignKeyViolation(err)) throw new ApiError("invalid_request_error", "No endpoint with this id.", { param: "hosted_on" });
  throw err;
}

async function setOpen(db: SqlClient, modelId: string, open: boolean): Promise<void> {
  await db.query(
    open
      ? "INSERT INTO deployment_groups (deployment_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
      : "DELETE FROM deployment_groups WHERE deployment_id = $1 AND group_id = $2",
    [modelId, EVERYONE_GROUP],
  );
}

/** The routing fields present in `input`, as column assignments (omitted ones keep their defaults or values). */
function routingSets(input: Partial<Record<(typeof ROUTING_COLUMNS)[number], unknown>>): [string, unknown][] {
  return ROUTING_COLUMNS.filter((k) => input[k] !== undefined).map((k) => [k, input[k]]);
}

async function setRouting(db: SqlClient, id: string, sets: [string, unknown][]): Promise<void> {
  if (sets.length === 0) return;
  await db.query(`UPDATE deployed_models SET ${sets.map(([column], i) => `${column} = $${i + 2}`).join(", ")} WHERE id = $1`, [id, ...sets.map(([, v]) => v)]);
}

export async function listModels(c: Context<AdminApp>, parsed: AdminInput<never, typeof Pagination>): Promise<Response> {
  const { skip, limit } = parsed.query;
  // One after the other: an admin request holds at most one connection.
  const page = await c.get("db").query<ModelRow>(
    `SELECT ${MODEL_COLUMNS} FROM deployed_models dm WHERE dm.deleted_at IS NULL ORDER BY dm.created_at, dm.id LIMIT $1 OFFSET $2`,
    [limit, skip],
  );
  const count = await c.get("db").query<{ n: number }>("SELECT count(*)::int AS n FROM deployed_models WHERE deleted_at IS NULL");
  const body: Page<ModelView> = { data: page.rows.map(toView), total_count: count.rows[0]?.n ?? 0, skip, limit };
  return c.json(body);
}

export async function createModel(c: Context<AdminApp>, parsed: AdminInput<never, undefined, typeof CreateModel>): Promise<Response> {
  const input = parsed.body;
  try {
    const model = await withTransaction(c.get("db"), async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO deployed_models (model_name, alias, hosted_on, description, model_type, requests_per_second, burst_size, metadata, created_by, tokenizer_url, responses_via_chat, on_client_disconnect, capacity, is_composite)
         VALUES ($1, $2, $3, $4, coalesce($5, 'chat'), $6, $7, coalesce($8::jsonb, '{}'::jsonb), $9, $10, $11, $12, $13, $14) RETURNING id`,
        [
          input.model_name ?? null,
          // The schema requires an alias when there is no model_name (composites).
          input.alias ?? input.model_name!,
          input.hosted_on ?? null,
          input.description ?? null,
          input.model_type ?? null,
          input.requests_per_second ?? null,
          input.burst_size ?? null,
          input.metadata === undefined ? null : JSON.stringify(input.metadata),
          c.get("actor").userId,
          input.tokenizer_url ?? null,
          input.responses_via_chat ?? false,
          input.on_client_disconnect ?? "cancel",
          input.capacity ?? null,
          input.is_composite ?? false,
        ],
      );
      const id = rows[0]!.id;
      await setRouting(client, id, routingSets(input));
      if (input.open_to_everyone) await setOpen(client, id, true);
      return findModel(client, id);
    });
    return c.json(model, 201);
  } catch (err) {
    mapWriteError(err);
  }
}

export async function getModel(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  return c.json(await findModel(c.get("db"), parsed.params.id));
}

export async function patchModel(c: Context<AdminApp>, parsed: AdminInput<"id", undefined, typeof PatchModel>): Promise<Response> {
  const id = parsed.params.id;
  const input = parsed.body;
  const sets: [string, unknown][] = [];
  if (input.model_name !== undefined) sets.push(["model_name", input.model_name]);
  if (input.alias !== undefined) sets.push(["alias", input.alias]);
  if (input.hosted_on !== undefined) sets.push(["hosted_on", input.hosted_on]);
  if (input.description !== undefined) sets.push(["description", input.description]);
  if (input.model_type !== undefined) sets.push(["model_type", input.model_type]);
  if (input.requests_per_second !== undefined) sets.push(["requests_per_second", input.requests_per_second]);
  if (input.burst_size !== undefined) sets.push(["burst_size", input.burst_size]);
  if (input.metadata !== undefined) sets.push(["metadata", JSON.stringify(input.metadata)]);
  if (input.tokenizer_url !== undefined) sets.push(["tokenizer_url", input.tokenizer_url]);
  if (input.responses_via_chat !== undefined) sets.push(["responses_via_chat", input.responses_via_chat]);
  if (input.on_client_disconnect !== undefined) sets.push(["on_client_disconnect", input.on_client_disconnect]);
  if (input.capacity !== undefined) sets.push(["capacity", input.capacity]);
  sets.push(...routingSets(input));
  try {
    const model = await withTransaction(c.get("db"), async (client) => {
      await findModel(client, id, true);
      if (sets.length > 0) {
        const assignments = sets.map(([column], i) => `${column} = $${i + 2}`).join(", ");
        await client.query(`UPDATE deployed_models SET ${assignments}, updated_at = now() WHERE id = $1`, [id, ...sets.map(([, v]) => v)]);
      }
      if (input.open_to_everyone !== undefined) await setOpen(client, id, input.open_to_everyone);
      return findModel(client, id);
    });
    return c.json(model);
  } catch (err) {
    mapWriteError(err);
  }
}

export async function deleteModel(c: Context<AdminApp>, parsed: AdminInput<"id">): Promise<Response> {
  const id = parsed.params.id;
  const { rows } = await c.get("db").query<{ id: string }>(
    "UPDATE deployed_models SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id",
    [id],
  );
  if (!rows[0]) throw notFound("model", id);
  return c.body(null, 204);
}
