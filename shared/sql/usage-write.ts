/**
 * A usage batch's whole write as ONE statement — and so one transaction and one round trip:
 *
 *   a  INSERT http_analytics … ON CONFLICT (event_id) DO NOTHING RETURNING event_id
 *   l  INSERT credits_transactions for the priced rows whose event `a` returned
 *        … ON CONFLICT (source_id) DO NOTHING RETURNING the rows written
 *   d  Σ of exactly those rows per user
 *   f  fold d into user_balance_checkpoints, users in id order, RETURNING the new balances
 *
 * One statement instead of BEGIN + three statements + COMMIT matters most where the round trip is
 * longest: a Worker talking to Neon over a WebSocket.
 *
 *   g  the pricing basis: whether what the rows were priced with (key owners, tariffs) is still what
 *      this statement's snapshot holds. If not, `a` inserts nothing — so neither do `l` and `f` —
 *      and the caller prices the batch afresh. This is what lets enrichment be cached.
 *
 * Why it is exactly-once under redelivery and concurrency:
 * - a redelivered event conflicts in `a`, so it never reaches `l`; `l` conflicts on source_id even
 *   if it did; the fold sees only rows `l` returned.
 * - rows enter `a` in event-id order, `l` in source-id order and `f` in user-id order, so two
 *   writers with overlapping batches queue behind each other instead of deadlocking.
 * - the checkpoint row lock taken in `f` is held to commit, so `before = after − delta` is the
 *   balance this statement moved from: each zero crossing is seen by exactly one writer.
 * - a user without a checkpoint gets one opened at the sum of their committed ledger (all CTEs
 *   share one snapshot, so that sum never includes this statement's own rows). If a concurrent
 *   writer opens it first, the conflict path adds only this statement's delta.
 */
import { Money, moneyText } from "../pricing.ts";
import type { SqlClient } from "./client.ts";
import { insertHttpAnalytics, type AnalyticsRow } from "./http-analytics.ts";
import { signedAmountSql, type BalanceChange, type LedgerEntry } from "./ledger.ts";
import { byKey } from "./lock-order.ts";
import { arrayLiteral, unnestSelectList, type Query } from "./unnest-insert.ts";

/** A billable row's ledger entry, tied to the analytics event that must be new for it to apply. */
export interface UsageCharge {
  eventId: string;
  entry: LedgerEntry;
}

/** A SQL condition (over parameters numbered from `first`) that the rows' pricing is still right, and its parameters. */
export interface PricingBasis {
  condition: (first: number) => string;
  values: unknown[][];
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

const CHARGE_COLUMNS = [
  ["event_id", "uuid", (c: UsageCharge) => c.eventId],
  ["user_id", "uuid", (c: UsageCharge) => c.entry.userId],
  ["transaction_type", "text", (c: UsageCharge) => c.entry.type],
  ["amount", "numeric", (c: UsageCharge) => moneyText(c.entry.amount)],
  ["source_id", "text", (c: UsageCharge) => c.entry.sourceId],
  ["description", "text", (c: UsageCharge) => c.entry.description],
  ["fusillade_batch_id", "uuid", (c: UsageCharge) => c.entry.fusilladeBatchId],
  ["api_key_id", "uuid", (c: UsageCharge) => c.entry.apiKeyId],
  ["created_by", "uuid", (c: UsageCharge) => c.entry.createdBy],
] as const;

/** The ledger columns in COPY / INSERT order (without event_id). */
export const LEDGER_INSERT_COLUMNS = CHARGE_COLUMNS.slice(1).map(([name]) => name);

/** Column arrays for the ledger rows, in insert order (benchmarks reuse them for COPY). */
export function ledgerColumnValues(charges: readonly UsageCharge[]): unknown[][] {
  const sorted = [...charges].sort(byKey((c) => c.entry.sourceId));
  return CHARGE_COLUMNS.slice(1).map(([, , value]) => sorted.map(value));
}

const ALWAYS: PricingBasis = { condition: () => "true", values: [] };

export function usageWriteQuery(rows: readonly AnalyticsRow[], charges: readonly UsageCharge[], basis: PricingBasis = ALWAYS): Query {
  const analytics = insertHttpAnalytics(rows, "(SELECT g.current FROM g)");
  const sorted = [...charges].sort(byKey((c) => c.entry.sourceId));
  const first = analytics.values.length + 1;
  const ledgerNames = LEDGER_INSERT_COLUMNS.join(", ");
  const text = `WITH g AS (
  SELECT ${basis.condition(first + CHARGE_COLUMNS.length)} AS current
), a AS (
  ${analytics.text}
), charges AS (
  SELECT ${unnestSelectList(CHARGE_COLUMNS, first, true)}
), l AS (
  INSERT INTO credits_transactions (${ledgerNames})
  SELECT ${LEDGER_INSERT_COLUMNS.map((n) => `c.${n}`).join(", ")}
    FROM charges c JOIN a ON a.event_id = c.event_id
   ORDER BY c.source_id
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
  return { text, values: [...analytics.values, ...CHARGE_COLUMNS.map(([, , value]) => sorted.map(value)), ...basis.values] };
}

type ResultRow = { basis_current: boolean; recorded: number; charged: number; users: string[]; balances: string[]; deltas: string[]; last_seqs: string[] };

/** Runs the statement (atomic on its own: no surrounding transaction needed). */
export async function writeUsage(
  client: SqlClient,
  rows: readonly AnalyticsRow[],
  charges: readonly UsageCharge[],
  basis: PricingBasis = ALWAYS,
): Promise<UsageWriteResult> {
  if (rows.length === 0) return { basisCurrent: true, recorded: 0, charged: 0, balanceChanges: [] };
  for (const c of charges) {
    // The table refuses it too; failing here names the entry instead of failing the statement.
    if (!c.entry.amount.gt(0)) throw new RangeError(`ledger amounts are positive; got ${moneyText(c.entry.amount)} for ${c.entry.sourceId}`);
  }
  const q = usageWriteQuery(rows, charges, basis);
  const { rows: out } = await client.query<ResultRow>(q.text, q.values.map(arrayLiteral));
  const r = out[0];
  if (!r) throw new Error("usage write returned no result row");
  const balanceChanges = r.users.map((userId, i): BalanceChange => {
    const after = new Money(r.balances[i]!);
    const before = after.minus(new Money(r.deltas[i]!));
    return { userId, before: moneyText(before), after: moneyText(after), lastSeq: r.last_seqs[i]! };
  });
  return { basisCurrent: r.basis_current, recorded: r.recorded, charged: r.charged, balanceChanges };
}
