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
import type { SqlClient } from "../../../../shared/sql/client.ts";
import { UUID } from "../../../../shared/uuid.ts";
import { EVERYONE_GROUP } from "../store.ts";
import type { AdminApp } from "./principal.ts";
import { ConflictError, foreignKeyViolation, notFound, Pagination, RateLimitFields, uniqueViolation, type Page, JsonMetadata, type AdminInput } from "./validation.ts";

const MODEL_TYPES = ["chat", "embeddings", "reranker"] as const;

export const ModelView = z.object({
  id: z.uuid(),
  model_name: z.string().describe("The name the upstream knows"),
  alias: z.string().describe("The name clients send as `model`"),
  hosted_on: z.uuid(),
  description: z.string().nullable(),
  model_type: z.enum(MODEL_TYPES),
  requests_per_second: z.number().nullable(),
  burst_size: z.number().int().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  open_to_everyone: z.boolean(),
  tokenizer_url: z.string().nullable().describe("External tokenizer service for prompt caching; null = the built-in tokenizer"),
  responses_via_chat: z.boolean().describe("POST /ai/v1/responses is translated to the upstream's /chat/completions (and the answer back)"),
  on_client_disconnect: z.enum(["cancel", "drain"]).describe("When a streaming client goes away: cancel the upstream at once (bill what was produced) or drain it (exact upstream usage)"),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type ModelView = z.output<typeof ModelView>;

type ModelRow = Omit<ModelView, "created_at" | "updated_at"> & { created_at: Date | string; updated_at: Date | string };

const MODEL_COLUMNS = `dm.id, dm.model_name, dm.alias, dm.hosted_on, dm.description, dm.model_type,
  dm.requests_per_second::float8 AS requests_per_second, dm.burst_size, dm.metadata,
  EXISTS (SELECT 1 FROM deployment_groups dg WHERE dg.deployment_id = dm.id AND dg.group_id = '${EVERYONE_GROUP}') AS open_to_everyone,
  dm.tokenizer_url, dm.responses_via_chat, dm.on_client_disconnect, dm.created_at, dm.updated_at`;

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
};
export const CreateModel = z.strictObject({ ...ModelFields, alias: Alias.optional() });
export const PatchModel = z.strictObject(ModelFields).partial();

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
        `INSERT INTO deployed_models (model_name, alias, hosted_on, description, model_type, requests_per_second, burst_size, metadata, created_by, tokenizer_url, responses_via_chat, on_client_disconnect)
         VALUES ($1, $2, $3, $4, coalesce($5, 'chat'), $6, $7, coalesce($8::jsonb, '{}'::jsonb), $9, $10, $11, $12) RETURNING id`,
        [
          input.model_name,
          input.alias ?? input.model_name,
          input.hosted_on,
          input.description ?? null,
          input.model_type ?? null,
          input.requests_per_second ?? null,
          input.burst_size ?? null,
          input.metadata === undefined ? null : JSON.stringify(input.metadata),
          c.get("actor").userId,
          input.tokenizer_url ?? null,
          input.responses_via_chat ?? false,
          input.on_client_disconnect ?? "cancel",
        ],
      );
      const id = rows[0]!.id;
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
