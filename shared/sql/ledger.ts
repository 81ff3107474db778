/**
 * The credit ledger and its balance checkpoints.
 *
 * `credits_transactions` is append-only and keyed by `source_id`, so a replayed write inserts
 * nothing. `user_balance_checkpoints` holds each user's running balance. The invariant every
 * writer keeps: **a ledger row is folded into its user's checkpoint in the same transaction that
 * inserts it, and only rows the INSERT actually returned are folded.** Then a checkpoint always
 * equals Σ(admin_grant, purchase) − Σ(usage, admin_removal) over the committed ledger, however many
 * writers run at once and however often a message is redelivered, and the gateway can read the
 * balance from the checkpoint alone. (The admin API's transactions and the test fixtures' grant keep it too.)
 */
import type Decimal from "decimal.js";

export const CREDIT_TYPES = ["admin_grant", "purchase"] as const;
export const DEBIT_TYPES = ["usage", "admin_removal"] as const;
export type TransactionType = (typeof CREDIT_TYPES)[number] | (typeof DEBIT_TYPES)[number];

export interface LedgerEntry {
  userId: string;
  type: TransactionType;
  /** Positive; the type says which way it moves the balance. */
  amount: Decimal;
  /** What caused it (e.g. `usage:<event_id>`); unique, so a replay cannot charge twice. */
  sourceId: string;
  description: string | null;
  fusilladeBatchId: string | null;
  apiKeyId: string | null;
  createdBy: string | null;
}

/** A checkpoint before and after a fold, as exact decimal text. */
export interface BalanceChange {
  userId: string;
  before: string;
  after: string;
  /** The highest ledger seq folded into it so far. */
  lastSeq: string;
}

/** The ledger's sign convention as SQL over a row alias, for reading balances from the ledger. */
export function signedAmountSql(alias: string): string {
  return `CASE WHEN ${alias}.transaction_type IN ('admin_grant', 'purchase') THEN ${alias}.amount ELSE -${alias}.amount END`;
}

/**
 * One ledger entry and its fold into the checkpoint, as a single statement (so a single
 * transaction), for writers outside the usage path: admin grants and removals, purchases.
 * Idempotent on `source_id`: a repeated entry inserts nothing and folds nothing (`inserted` is
 * then null). A user without a checkpoint gets one opened at their committed ledger sum, exactly as
 * the usage write does; if a concurrent writer opens it first, only this entry's amount is added.
 */
export function ledgerEntryQuery(entry: LedgerEntry, amountText: string): { text: string; values: unknown[] } {
  const text = `WITH l AS (
  INSERT INTO credits_transactions (user_id, transaction_type, amount, source_id, description, fusillade_batch_id, api_key_id, created_by)
  VALUES ($1::uuid, $2, $3::numeric, $4, $5, $6::uuid, $7::uuid, $8::uuid)
  ON CONFLICT (source_id) DO NOTHING
  RETURNING id, seq, user_id, transaction_type, amount
), f AS (
  INSERT INTO user_balance_checkpoints AS c (user_id, balance, last_seq)
  SELECT l.user_id,
         CASE WHEN EXISTS (SELECT 1 FROM user_balance_checkpoints x WHERE x.user_id = l.user_id) THEN ${signedAmountSql("l")}
              ELSE coalesce((SELECT sum(${signedAmountSql("t")}) FROM credits_transactions t WHERE t.user_id = l.user_id), 0) + ${signedAmountSql("l")}
         END,
         l.seq
    FROM l
  ON CONFLICT (user_id) DO UPDATE
     SET balance = c.balance + (SELECT ${signedAmountSql("l2")} FROM l l2),
         last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq),
         updated_at = now()
  RETURNING c.balance
)
SELECT (SELECT l.id::text FROM l) AS inserted,
       (SELECT f.balance::text FROM f) AS after,
       (SELECT (${signedAmountSql("l")})::text FROM l) AS delta`;
  return {
    text,
    values: [entry.userId, entry.type, amountText, entry.sourceId, entry.description, entry.fusilladeBatchId, entry.apiKeyId, entry.createdBy],
  };
}
