/**
 * A usage batch's whole write as ONE statement — and so one transaction and one round trip:
 *
 *   a  INSERT http_analytics … ON CONFLICT (event_id) DO NOTHING RETURNING the rows written
 *   l  INSERT credits_transactions: one `usage` row per row `a` returned that is billable
 *        … ON CONFLICT (source_id) DO NOTHING RETURNING the rows written
 *   d  Σ of exactly those rows per user
 *   f  fold d into user_balance_checkpoints, users in id order, RETURNING the new balances
 *
 * One statement instead of BEGIN + three statements + COMMIT matters most where the round trip is
 * longest: a Worker talking to Neon over a WebSocket.
 *
 * The statement is installed as the body of a PL/pgSQL function, tollgate_write_usage (migration
 * 1795450000000_usage-write-function.sql), and the write calls it. PL/pgSQL keeps the statement's
 * plan per server session, so a connection that writes again — the bench's, or a pooled Neon
 * backend the pooler hands the consumer — skips parsing and planning a 40-parameter statement
 * (figures: docs/benchmarks.md).
 * A named prepared statement would do the same but breaks behind poolers that share one backend
 * between clients. usageWriteFunctionSql() is the source of
 * the migration's text; a test fails if the installed function and this builder ever differ.
 *
 *   g  the pricing basis: whether what the rows were priced with (key owners, tariffs) is still what
 *      this statement's snapshot holds. If not, `a` inserts nothing — so neither do `l` and `f` —
 *      and the caller prices the batch afresh. This is what lets enrichment be cached.
 *
 * What is charged: a row is billable when it has an owner (user_id: a known key) and a positive
 * total_cost. Its ledger row is built here from the analytics row itself — amount = total_cost,
 * source_id = `usage:<event_id>`, the row's key and batch, and a description naming the model and
 * tokens — so a charge can never disagree with the analytics row it bills, and the batch's rows
 * travel once.
 *
 * Why it is exactly-once under redelivery and concurrency:
 * - a redelivered event conflicts in `a`, so it never reaches `l`; `l` conflicts on source_id even
 *   if it did; the fold sees only rows `l` returned.
 * - rows enter `a` in event-id order, `l` in source-id order (the same order: the prefix is
 *   constant and a uuid sorts as its text) and `f` in user-id order, so two writers with
 *   overlapping batches queue behind each other instead of deadlocking.
 * - the checkpoint row lock taken in `f` is held to commit, so `before = after − delta` is the
 *   balance this statement moved from: each zero crossing is seen by exactly one writer.
 * - a user without a checkpoint gets one opened at the sum of their committed ledger (all CTEs
 *   share one snapshot, so that sum never includes this statement's own rows). If a concurrent
 *   writer opens it first, the conflict path adds only this statement's delta.
 */
import { Money, moneyText } from "../pricing.ts";
import type { SqlClient } from "./client.ts";
import { HTTP_ANALYTICS_COLUMNS, httpAnalyticsValues, insertHttpAnalytics, type AnalyticsRow } from "./http-analytics.ts";
import { signedAmountSql, type BalanceChange, type LedgerEntry } from "./ledger.ts";
import { byKey } from "./lock-order.ts";
import { modelFingerprintsSql } from "./model-fingerprint.ts";
import { arrayLiteral } from "./unnest-insert.ts";

/**
 * What a batch was priced with: each key's owner and purpose, each model's fingerprint
 * (shared/sql/model-fingerprint.ts). The write checks all of it in its own snapshot.
 */
export interface PricingBasis {
  keys: readonly (readonly [id: string, userId: string, purpose: string])[];
  models: readonly (readonly [alias: string, fingerprint: string])[];
}

export interface UsageWriteResult {
  /** False if the pricing basis had changed: then nothing was written. */
  basisCurrent: boolean;
  /** Analytics rows this statement wrote (the others were already recorded). */
  recorded: number;
  /** Ledger rows this statement wrote. */
  charged: number;
  /** One per user charged now, in user-id order. */
  balanceChanges: BalanceChange[];
}

/** The ledger columns a usage charge fills, in insert order. */
export const LEDGER_INSERT_COLUMNS = ["user_id", "transaction_type", "amount", "source_id", "description", "fusillade_batch_id", "api_key_id", "created_by"] as const;

/** The source id of the usage charge for an event (unique in the ledger: a replay cannot charge twice). */
export const usageSourceId = (eventId: string): string => `usage:${eventId.toLowerCase()}`;

/**
 * The ledger row a written analytics row adds, as SQL over the alias of `a`'s rows (in
 * LEDGER_INSERT_COLUMNS order), and the condition for adding one. usageCharges is the same rule in
 * TypeScript, for what must predict the ledger without writing it (the COPY benchmark's floor).
 */
const BILLABLE_SQL = (r: string) => `${r}.user_id IS NOT NULL AND ${r}.total_cost > 0`;
const LEDGER_VALUES_SQL = (r: string) =>
  [
    `${r}.user_id`,
    `'usage'`,
    `${r}.total_cost`,
    `'usage:' || ${r}.event_id`,
    `'API usage: ' || ${r}.model || ' (' || ${r}.prompt_tokens || ' input + ' || ${r}.completion_tokens || ' output tokens)'`,
    `${r}.fusillade_batch_id`,
    `${r}.api_key_id`,
    `NULL::uuid`,
  ].join(", ");
/** The columns of `a` that LEDGER_VALUES_SQL reads. */
const RETURNED = "event_id, user_id, total_cost, model, prompt_tokens, completion_tokens, fusillade_batch_id, api_key_id";

export function usageCharges(rows: readonly AnalyticsRow[]): LedgerEntry[] {
  const entries: LedgerEntry[] = [];
  for (const r of rows) {
    if (r.userId === null || r.totalCost === null || !new Money(r.totalCost).gt(0)) continue;
    const m = r.message;
    entries.push({
      userId: r.userId,
      type: "usage",
      amount: new Money(r.totalCost),
      sourceId: usageSourceId(m.event_id),
      description: `API usage: ${m.model} (${m.usage.prompt_tokens} input + ${m.usage.completion_tokens} output tokens)`,
      fusilladeBatchId: m.batch?.batch_id ?? null,
      apiKeyId: m.api_key_id,
      createdBy: null,
    });
  }
  return entries.sort(byKey((e) => e.sourceId));
}

/** Column arrays for the ledger rows, in LEDGER_INSERT_COLUMNS order (the benchmark COPYs them). */
export function ledgerColumnValues(entries: readonly LedgerEntry[]): unknown[][] {
  return [
    entries.map((e) => e.userId),
    entries.map((e) => e.type),
    entries.map((e) => moneyText(e.amount)),
    entries.map((e) => e.sourceId),
    entries.map((e) => e.description),
    entries.map((e) => e.fusilladeBatchId),
    entries.map((e) => e.apiKeyId),
    entries.map((e) => e.createdBy),
  ];
}

/** Checks nothing, so it is always current (for writers whose rows need no re-pricing). */
const NO_BASIS: PricingBasis = { keys: [], models: [] };

export const USAGE_WRITE_FUNCTION = "tollgate_write_usage";

/** The basis arrays, after the analytics columns: [parameter name, element type]. */
const BASIS_PARAMETERS = [
  ["basis_key_ids", "uuid"],
  ["basis_key_users", "uuid"],
  ["basis_key_purposes", "text"],
  ["basis_aliases", "text"],
  ["basis_fingerprints", "text"],
] as const;

/** The function's parameters, one array each, in call order. */
const PARAMETERS: readonly (readonly [name: string, elementType: string])[] = [...HTTP_ANALYTICS_COLUMNS.map(([name, type]) => [name, type] as const), ...BASIS_PARAMETERS];

/** `g`: every key still has the owner and purpose, and every model the fingerprint, it was priced with (over $p…$p+4). */
function basisConditionSql(p: number): string {
  return `(SELECT count(*) FROM api_keys k
                 JOIN unnest($${p}::uuid[], $${p + 1}::uuid[], $${p + 2}::text[]) AS b(id, user_id, purpose)
                   ON k.id = b.id AND k.user_id = b.user_id AND k.purpose = b.purpose) = cardinality($${p}::uuid[])
       AND (SELECT count(*) FROM (${modelFingerprintsSql(`$${p + 3}`)}) f
                 JOIN unnest($${p + 3}::text[], $${p + 4}::text[]) AS b(alias, fingerprint)
                   ON f.alias = b.alias AND f.fingerprint = b.fingerprint) = cardinality($${p + 3}::text[])`;
}

/** The whole write as one statement over $1…$N (the analytics columns, then the basis arrays). */
export function usageWriteStatement(): string {
  const analytics = insertHttpAnalytics([], "(SELECT g.current FROM g)", RETURNED);
  return `WITH g AS (
  SELECT ${basisConditionSql(HTTP_ANALYTICS_COLUMNS.length + 1)} AS current
), a AS (
  ${analytics.text}
), l AS (
  INSERT INTO credits_transactions (${LEDGER_INSERT_COLUMNS.join(", ")})
  SELECT ${LEDGER_VALUES_SQL("a")}
    FROM a
   WHERE ${BILLABLE_SQL("a")}
   ORDER BY a.event_id
  ON CONFLICT (source_id) DO NOTHING
  RETURNING seq, user_id, transaction_type, amount
), d AS (
  SELECT l.user_id, sum(${signedAmountSql("l")}) AS delta, max(l.seq) AS last_seq FROM l GROUP BY l.user_id
), f AS (
  INSERT INTO user_balance_checkpoints AS c (user_id, balance, last_seq)
  SELECT d.user_id,
         CASE WHEN EXISTS (SELECT 1 FROM user_balance_checkpoints x WHERE x.user_id = d.user_id) THEN d.delta
              ELSE coalesce((SELECT sum(${signedAmountSql("t")}) FROM credits_transactions t WHERE t.user_id = d.user_id), 0) + d.delta
         END,
         d.last_seq
    FROM d
   ORDER BY d.user_id
  ON CONFLICT (user_id) DO UPDATE
     SET balance = c.balance + (SELECT d2.delta FROM d d2 WHERE d2.user_id = EXCLUDED.user_id),
         last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq),
         updated_at = now()
  RETURNING c.user_id, c.balance, c.last_seq
)
SELECT (SELECT g.current FROM g) AS basis_current,
       (SELECT count(*) FROM a)::int AS recorded,
       (SELECT count(*) FROM l)::int AS charged,
       coalesce((SELECT array_agg(f.user_id::text ORDER BY f.user_id) FROM f), '{}') AS users,
       coalesce((SELECT array_agg(f.balance::text ORDER BY f.user_id) FROM f), '{}') AS balances,
       coalesce((SELECT array_agg(d.delta::text ORDER BY f.user_id) FROM f JOIN d ON d.user_id = f.user_id), '{}') AS deltas,
       coalesce((SELECT array_agg(f.last_seq::text ORDER BY f.user_id) FROM f), '{}') AS last_seqs`;
}

/** The function's argument list as Postgres prints it (pg_get_function_arguments). */
export function usageWriteFunctionArguments(): string {
  return PARAMETERS.map(([name, type]) => `p_${name} ${type === "int" ? "integer" : type === "timestamptz" ? "timestamp with time zone" : type}[]`).join(", ");
}

/** The function's PL/pgSQL body (pg_proc.prosrc). Output names are not columns of the statement; use_column says so. */
export function usageWriteFunctionBody(): string {
  return `
#variable_conflict use_column
BEGIN
  RETURN QUERY
${usageWriteStatement()};
END
`;
}

/** The CREATE statement a migration installs (regenerate it with this when the statement changes). */
export function usageWriteFunctionSql(): string {
  return `CREATE OR REPLACE FUNCTION ${USAGE_WRITE_FUNCTION}(${usageWriteFunctionArguments()})
RETURNS TABLE (basis_current boolean, recorded integer, charged integer, users text[], balances text[], deltas text[], last_seqs text[])
LANGUAGE plpgsql AS $body$${usageWriteFunctionBody()}$body$;`;
}

/** The call: the rows' column arrays and the basis arrays, as array literals. */
export function usageWriteCall(rows: readonly AnalyticsRow[], basis: PricingBasis = NO_BASIS): { text: string; values: string[] } {
  const values = [
    ...httpAnalyticsValues(rows),
    basis.keys.map(([id]) => id),
    basis.keys.map(([, userId]) => userId),
    basis.keys.map(([, , purpose]) => purpose),
    basis.models.map(([alias]) => alias),
    basis.models.map(([, fingerprint]) => fingerprint),
  ];
  return { text: `SELECT * FROM ${USAGE_WRITE_FUNCTION}(${values.map((_, i) => `$${i + 1}`).join(", ")})`, values: values.map(arrayLiteral) };
}

type ResultRow = { basis_current: boolean; recorded: number; charged: number; users: string[]; balances: string[]; deltas: string[]; last_seqs: string[] };

/** Runs the statement (atomic on its own: no surrounding transaction needed). */
export async function writeUsage(client: SqlClient, rows: readonly AnalyticsRow[], basis: PricingBasis = NO_BASIS): Promise<UsageWriteResult> {
  if (rows.length === 0) return { basisCurrent: true, recorded: 0, charged: 0, balanceChanges: [] };
  const call = usageWriteCall(rows, basis);
  let out: ResultRow[];
  try {
    ({ rows: out } = await client.query<ResultRow>(call.text, call.values));
  } catch (err) {
    // 42883 undefined_function: this code is newer than the database's schema.
    if ((err as { code?: unknown }).code === "42883" && String((err as Error).message).includes(USAGE_WRITE_FUNCTION)) {
      throw new Error(`the database has no ${USAGE_WRITE_FUNCTION} of this version: apply the migrations (npm run db:migrate) before deploying the consumer. (${(err as Error).message})`);
    }
    throw err;
  }
  const r = out[0];
  if (!r) throw new Error("usage write returned no result row");
  const balanceChanges = r.users.map((userId, i): BalanceChange => {
    const after = new Money(r.balances[i]!);
    const before = after.minus(new Money(r.deltas[i]!));
    return { userId, before: moneyText(before), after: moneyText(after), lastSeq: r.last_seqs[i]! };
  });
  return { basisCurrent: r.basis_current, recorded: r.recorded, charged: r.charged, balanceChanges };
}
