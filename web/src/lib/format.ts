import Decimal from "decimal.js";

/**
 * Credits: the gateway's prepaid unit. Not a currency: no sign, and never turned into a float.
 * `creditAmount` is the bare number (for table cells whose header names the unit); `credits`
 * adds the unit ("12.50 credits") wherever a figure stands alone.
 */
export function creditAmount(value: string | null | undefined, digits = 2): string {
  if (value === null || value === undefined) return "—";
  const d = new Decimal(value);
  // Tiny amounts (a single request's cost) keep three significant digits instead of rounding to 0.
  if (!d.isZero() && d.abs().lt(new Decimal(10).pow(-digits))) return d.toSignificantDigits(3).toFixed();
  // Up to `digits` decimals, trailing zeros trimmed down to two.
  const [int, frac = ""] = d.toFixed(digits).split(".");
  const cents = frac.replace(/0+$/, "").padEnd(Math.min(2, digits), "0");
  return (d.isNeg() ? "-" : "") + (int ?? "0").replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (cents ? "." + cents : "");
}

export function credits(value: string | null | undefined, digits = 2): string {
  if (value === null || value === undefined) return "—";
  return `${creditAmount(value, digits)} credits`;
}

/** A tariff's exact price per token (tiny): all significant digits, no exponent. */
export function exactAmount(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return new Decimal(value).toFixed();
}

export function pricePerToken(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return `${exactAmount(value)} credits`;
}

/** A chart axis tick in credits (a float is fine for drawing). */
export function creditTick(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1000) return compact(v);
  if (Math.abs(v) < 0.01) return String(Number(v.toPrecision(2)));
  return v.toFixed(2);
}

const intl = new Intl.NumberFormat("en-US");
const compactIntl = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
export const num = (n: number | null | undefined) => (n === null || n === undefined ? "—" : intl.format(n));
export const compact = (n: number) => (Math.abs(n) < 10_000 ? intl.format(n) : compactIntl.format(n));

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  return `${Math.round(n)} ms`;
}

export function pct(n: number | null): string {
  return n === null || Number.isNaN(n) ? "—" : `${(n * 100).toFixed(1)}%`;
}

const dateTime = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
export const when = (iso: string | null | undefined) => (iso ? dateTime.format(new Date(iso)) : "—");

export function ago(iso: string | null | undefined): string {
  if (!iso) return "never";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const shortId = (id: string | null | undefined) => (id ? id.slice(0, 8) : "—");
