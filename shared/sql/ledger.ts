/**
 * The credit ledger and its balance checkpoints.
 *
 * `credits_transactions` is append-only and keyed by `source_id`, so a replayed write inserts
 * nothing. `user_balance_checkpoints` holds each user's running balance. The invariant every
 * writer keeps: **a ledger row is folded into its user's checkpoint in the same transaction that
 * inserts it, and only rows the INSERT actually returned are folded.** Then a checkpoint always
 * equals Σ(admin_grant, purchase) − Σ(usage, admin_removal) over the committed ledger, however many
 * writers run at once and however often a message is redelivered, and the gateway can read the
 * balance from the checkpoint alone. (dev/seed.ts and the test fixtures' grant keep it too.)
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
