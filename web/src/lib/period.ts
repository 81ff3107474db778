export const PERIODS = {
  "24h": { label: "Last 24 hours", ms: 24 * 3600_000, bucket: "hour" },
  "7d": { label: "Last 7 days", ms: 7 * 86400_000, bucket: "day" },
  "30d": { label: "Last 30 days", ms: 30 * 86400_000, bucket: "day" },
  "90d": { label: "Last 90 days", ms: 90 * 86400_000, bucket: "day" },
} as const;
export type Period = keyof typeof PERIODS;
export const isPeriod = (v: unknown): v is Period => typeof v === "string" && v in PERIODS;

/** The period's window, its end rounded up to the minute so query keys stay stable for a while. */
export function windowOf(period: Period): { created_after: string; created_before: string } {
  const end = Math.ceil(Date.now() / 60_000) * 60_000;
  return { created_after: new Date(end - PERIODS[period].ms).toISOString(), created_before: new Date(end).toISOString() };
}
