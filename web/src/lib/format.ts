import Decimal from "decimal.js";

/** Money arrives as decimal strings; it is formatted without ever becoming a float. */
export function money(value: string | null | undefined, digits = 2): string {
  if (value === null || value === undefined) return "—";
  const d = new Decimal(value);
  if (!d.isZero() && d.abs().lt(new Decimal(10).pow(-digits))) {
    return "$" + d.toSignificantDigits(3).toString();
  }
  // Up to `digits` decimals, trailing zeros trimmed down to cents.
  const [int, frac = ""] = d.toFixed(digits).split(".");
  const cents = frac.replace(/0+$/, "").padEnd(Math.min(2, digits), "0");
  return (d.isNeg() ? "-$" : "$") + (int ?? "0").replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (cents ? "." + cents : "");
}

/** Exact price (per-token prices are tiny): all significant digits. */
export function price(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return "$" + new Decimal(value).toString();
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
