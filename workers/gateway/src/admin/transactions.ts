/**
 * `/transactions`: the credit ledger as operators see and change it.
 *
 * `POST` (platform or billing managers) appends an `admin_grant` or `admin_removal` and folds it
 * into the user's balance checkpoint in the same statement, so the gateway's 402 gate sees it within
 * its cache TTL. A caller-supplied `source_id` makes the call idempotent: repeating it changes
 * nothing and answers 200 with the original row; reusing it for a different grant is 409. Caller
 * ids are stored as `admin:<source_id>` so they can never collide with usage charges
 * (`usage:<event_id>`); a caller id that itself starts with a system namespace (`usage:`,
 * `admin:`, …) is refused, so no stored id ever reads as if the system had written it.
 *
 * `GET` lists ledger rows, newest first. Managers and billing managers see everyone's; anyone else
 * sees only their own (another user's id answers 404, as a missing one does); in organization
 * context everyone sees only the organization's.
 */
import type { Context } from "hono";
import * as z from "zod";
import { ApiError } from "../../../../shared/errors.ts";
import { balanceCrossing, Money, moneyText } from "../../../../shared/pricing.ts";
import { ledgerEntryQuery } from "../../../../shared/sql/ledger.ts";
import { listScope, type Actor, type AdminApp } from "./principal.ts";
import { findUser } from "./users.ts";
import { DecimalString, notFound, Pagination, type Page, type AdminInput } from "./validation.ts";

const TRANSACTION_TYPES = ["admin_grant", "admin_removal", "purchase", "usage"] as const;

export const TransactionView = z.object({
  id: z.uuid(),
  user_id: z.uuid(),
  transaction_type: z.enum(TRANSACTION_TYPES),
  amount: z.string().describe("Positive decimal string; the type says which way it moves the balance"),
  source_id: z.string(),
  description: z.string().nullable(),
  fusillade_batch_id: z.uuid().nullable(),
  api_key_id: z.uuid().nullable(),
  created_by: z.uuid().nullable(),
  created_at: z.iso.datetime(),
});
export type TransactionView = z.output<typeof TransactionView>;

export const TransactionCreated = TransactionView.extend({
  balance: z.string().describe("The user's balance after this transaction (now, for a repeated source_id)"),
});

type TransactionRow = Omit<TransactionView, "created_at"> & { created_at: Date | string };

const COLUMNS = `t.id, t.user_id, t.transaction_type, t.amount::text AS amount, t.source_id, t.description,
  t.fusillade_batch_id, t.api_key_id, t.created_by, t.created_at`;

const toView = (row: TransactionRow): TransactionView => ({ ...row, created_at: new Date(row.created_at).toISOString() });

/** Ledger id namespaces the system writes (or reserves); caller ids may not start with them. */
export const RESERVED_SOURCE_PREFIXES = ["usage:", "admin:", "batch:", "purchase:", "system:", "tollgate:"] as const;

export const CreateTransaction = z.strictObject({
  user_id: z.uuid(),
  transaction_type: z.enum(["admin_grant", "admin_removal"]),
  amount: DecimalString.refine((v) => new Money(v).gt(0), { error: "must be greater than zero" }),
  description: z.string().trim().max(500).nullable().optional(),
  source_id: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, { error: "printable ASCII without spaces" })
    .refine((v) => !RESERVED_SOURCE_PREFIXES.some((p) => v.toLowerCase().startsWith(p)), {
      error: `must not start with a system namespace (${RESERVED_SOURCE_PREFIXES.join(" ")})`,
    })
    .optional()
    .describe("Your id for this grant; repeating it is harmless (idempotent)"),
});

function canManageCredits(actor: Actor): boolean {
  return actor.isManager || actor.roles.includes("billing_manager");
}

export async function createTransaction(c: Context<AdminApp>, parsed: AdminInput<never, undefined, typeof CreateTransaction>): Promise<Response> {
  const actor = c.get("actor");
  if (!canManageCredits(actor)) throw new ApiError("permission_denied", "Granting or removing credits needs the platform_manager or billing_manager role.");
  const input = parsed.body;
  const db = c.get("db");
  const user = await findUser(db, input.user_id);
  if (!user) throw notFound("user", input.user_id);

  const sourceId = `admin:${input.source_id ?? crypto.randomUUID()}`;
  const amount = new Money(input.amount);
  const q = ledgerEntryQuery(
    {
      userId: input.user_id,
      type: input.transaction_type,
      amount,
      sourceId,
      description: input.description ?? null,
      fusilladeBatchId: null,
      apiKeyId: null,
      createdBy: actor.userId,
    },
    moneyText(amount),
  );
  const { rows } = await db.query<{ inserted: string | null; after: string | null; delta: string | null }>(q.text, q.values);
  const written = rows[0];

  const existing = await db.query<TransactionRow>(`SELECT ${COLUMNS} FROM credits_transactions t WHERE t.source_id = $1`, [sourceId]);
  const row = existing.rows[0];
  if (!row) throw new Error(`ledger row ${sourceId} vanished after its insert`);
  const view = toView(row);

  if (written?.inserted && written.after !== null && written.delta !== null) {
    const after = new Money(written.after);
    const before = after.minus(new Money(written.delta));
    const crossing = balanceCrossing(before, after);
    if (crossing) console.log(`balance ${crossing} for user ${input.user_id}: ${moneyText(before)} → ${moneyText(after)}`);
    return c.json({ ...view, balance: moneyText(after) }, 201);
  }

  // The source_id was used before: the same request again is a no-op; a different one is refused.
  if (view.user_id !== input.user_id || view.transaction_type !== input.transaction_type || !new Money(view.amount).eq(amount)) {
    throw new ApiError("conflict", `source_id '${input.source_id}' was already used for a different transaction.`, { param: "source_id" });
  }
  const now = await findUser(db, input.user_id);
  return c.json({ ...view, balance: now?.balance ?? "0" }, 200);
}

export const TransactionQuery = Pagination.extend({
  user_id: z.uuid().optional(),
  transaction_type: z.enum(TRANSACTION_TYPES).optional(),
  created_after: z.iso.datetime({ offset: true }).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
});

export async function listTransactions(c: Context<AdminApp>, parsed: AdminInput<never, typeof TransactionQuery>): Promise<Response> {
  const actor = c.get("actor");
  const q = parsed.query;
  // In organization context the organization's ledger (for managers too); outside it, managers
  // see everyone's and anyone else their own.
  const scope = listScope(actor, canManageCredits(actor));
  if (q.user_id !== undefined && scope !== null && q.user_id !== scope) throw notFound("user", q.user_id);
  const userId = q.user_id ?? scope;
  const where = `($1::uuid IS NULL OR t.user_id = $1) AND ($2::text IS NULL OR t.transaction_type = $2)
    AND ($3::timestamptz IS NULL OR t.created_at >= $3) AND ($4::timestamptz IS NULL OR t.created_at < $4)`;
  const filters = [userId, q.transaction_type ?? null, q.created_after ?? null, q.created_before ?? null];
  const page = await c.get("db").query<TransactionRow>(
    `SELECT ${COLUMNS} FROM credits_transactions t WHERE ${where} ORDER BY t.seq DESC LIMIT $5 OFFSET $6`,
    [...filters, q.limit, q.skip],
  );
  const count = await c.get("db").query<{ n: number }>(`SELECT count(*)::int AS n FROM credits_transactions t WHERE ${where}`, filters);
  const body: Page<TransactionView> = { data: page.rows.map(toView), total_count: count.rows[0]?.n ?? 0, skip: q.skip, limit: q.limit };
  return c.json(body);
}
