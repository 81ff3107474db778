/**
 * The gateway's vars and secrets, parsed once per isolate at the boundary. Failing closed: a
 * missing or malformed setting answers 500 with the setting's name, never its value.
 */
import * as z from "zod";
import { DbSettingsSchema } from "../../../shared/db.ts";
import { windowMs } from "../../../shared/batch-headers.ts";
import { TIERS, type Tier } from "../../../shared/prompt-cache/markers.ts";
import { ROLES } from "../../../shared/roles.ts";
import { HEALTH_DEFAULTS } from "../../../shared/routing.ts";

const positiveInt = (name: string) =>
  z
    .string()
    .regex(/^\d+$/, { error: `${name} must be a positive integer` })
    .transform(Number)
    .refine((n) => n > 0, { error: `${name} must be a positive integer` });

/** An optional string var: wrangler.toml's empty default means "not set". */
const optionalText = z
  .string()
  .optional()
  .transform((s) => (s?.trim() ? s.trim() : undefined));

/** `team.cloudflareaccess.com` or `https://team.cloudflareaccess.com/` → `https://team.cloudflareaccess.com`. */
const accessIssuer = (domain: string) => `https://${domain.replace(/^https:\/\//, "").replace(/\/+$/, "")}`;

export const GatewayConfigSchema = DbSettingsSchema.extend({
  ADMIN_TOKEN: z.string().min(16, { error: "ADMIN_TOKEN must be at least 16 characters" }).optional(),
  ENCRYPTION_KEY: z.string().optional(),
  MAX_BODY_BYTES: positiveInt("MAX_BODY_BYTES").optional().default(10 * 1024 * 1024),
  UPSTREAM_TIMEOUT_MS: positiveInt("UPSTREAM_TIMEOUT_MS").optional().default(600_000),
  UPSTREAM_STREAM_IDLE_MS: positiveInt("UPSTREAM_STREAM_IDLE_MS").optional().default(120_000),
  ACCESS_CACHE_TTL_MS: positiveInt("ACCESS_CACHE_TTL_MS").optional().default(2_000),
  DB_CONNECT_TIMEOUT_MS: positiveInt("DB_CONNECT_TIMEOUT_MS").optional().default(2_000),
  DB_QUERY_TIMEOUT_MS: positiveInt("DB_QUERY_TIMEOUT_MS").optional().default(3_000),
  ACCESS_STALE_IF_ERROR_MS: positiveInt("ACCESS_STALE_IF_ERROR_MS").optional().default(300_000),
  // Passive health of composite models' components (docs/routing.md).
  ROUTING_EJECT_AFTER_FAILURES: positiveInt("ROUTING_EJECT_AFTER_FAILURES").optional().default(HEALTH_DEFAULTS.failures),
  ROUTING_EJECT_COOLDOWN_MS: positiveInt("ROUTING_EJECT_COOLDOWN_MS").optional().default(HEALTH_DEFAULTS.cooldownMs),
  CACHE_ENABLED_TIERS: z
    .string()
    .optional()
    .default("5m,1h")
    .transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean))
    .refine((tiers) => tiers.every((t) => (TIERS as readonly string[]).includes(t)), { error: `CACHE_ENABLED_TIERS must list tiers from ${TIERS.join(", ")}` })
    .transform((tiers) => tiers as Tier[]),
  CACHE_DEFAULT_TTL: z.enum(TIERS).optional().default("5m"),
  CACHE_CLASSIFY_DEADLINE_MS: positiveInt("CACHE_CLASSIFY_DEADLINE_MS").optional().default(5_000),
  CACHE_COMMIT_DEADLINE_MS: positiveInt("CACHE_COMMIT_DEADLINE_MS").optional().default(10_000),
  BATCH_COMPLETION_WINDOWS: z
    .string()
    .optional()
    .default("24h,1h")
    .transform((s) => s.split(",").map((w) => w.trim()).filter(Boolean))
    .refine((ws) => ws.length > 0 && ws.every((w) => windowMs(w) !== null), { error: "BATCH_COMPLETION_WINDOWS must list durations such as 24h,1h" }),
  BATCH_FILE_MAX_BYTES: positiveInt("BATCH_FILE_MAX_BYTES").optional().default(100 * 1024 * 1024),
  BATCH_MAX_ATTEMPTS: positiveInt("BATCH_MAX_ATTEMPTS").optional().default(5),
  BATCH_MODEL_CONCURRENCY: positiveInt("BATCH_MODEL_CONCURRENCY").optional().default(32),
  /** Days an ended batch keeps its per-request rows (bodies and answers) in `batch_requests`. */
  BATCH_RETENTION_DAYS: positiveInt("BATCH_RETENTION_DAYS").optional().default(7),
  BATCH_START_LINES: positiveInt("BATCH_START_LINES").optional().default(10_000),
  BATCH_RETRY_DELAY_SECONDS: z
    .string()
    .regex(/^\d{1,5}$/, { error: "BATCH_RETRY_DELAY_SECONDS must be a whole number of seconds" })
    .transform(Number)
    .optional()
    .default(5),
  /** `*` or a comma-separated list of exact origins (`https://app.example.com`). */
  CORS_ALLOWED_ORIGINS: z
    .string()
    .optional()
    .default("*")
    .transform((s): "*" | string[] => (s.trim() === "*" ? "*" : s.split(",").map((o) => o.trim()).filter(Boolean)))
    .refine((o) => o === "*" || o.every((origin) => /^https?:\/\/[^/\s]+$/.test(origin)), { error: "CORS_ALLOWED_ORIGINS must be * or a comma-separated list of origins like https://app.example.com" }),
  // Console sign-in (docs/auth.md).
  SESSION_TTL_HOURS: positiveInt("SESSION_TTL_HOURS").optional().default(12),
  ACCESS_TEAM_DOMAIN: optionalText.refine((s) => s === undefined || /^(https:\/\/)?[A-Za-z0-9.-]+\/?$/.test(s), {
    error: "ACCESS_TEAM_DOMAIN must be a host name such as myteam.cloudflareaccess.com",
  }),
  ACCESS_AUD: optionalText,
  ACCESS_DEFAULT_ROLE: optionalText.pipe(z.enum(ROLES, { error: `ACCESS_DEFAULT_ROLE must be one of ${ROLES.join(", ")}` }).optional()),
  // Tests only: fetch the Access keys from here instead of https://<team>/cdn-cgi/access/certs.
  ACCESS_CERTS_URL: optionalText.pipe(z.url({ error: "ACCESS_CERTS_URL must be a URL" }).optional()),
})
  .refine((c) => (c.ACCESS_TEAM_DOMAIN === undefined) === (c.ACCESS_AUD === undefined), {
    error: "ACCESS_TEAM_DOMAIN and ACCESS_AUD must be set together (or both left empty)",
    path: ["ACCESS_AUD"],
  })
  .transform((c) => ({
    ...c,
    /** Cloudflare Access single sign-on, when configured. */
    access:
      c.ACCESS_TEAM_DOMAIN !== undefined && c.ACCESS_AUD !== undefined
        ? {
            teamDomain: c.ACCESS_TEAM_DOMAIN.replace(/^https:\/\//, "").replace(/\/+$/, ""),
            issuer: accessIssuer(c.ACCESS_TEAM_DOMAIN),
            audience: c.ACCESS_AUD,
            certsUrl: c.ACCESS_CERTS_URL ?? `${accessIssuer(c.ACCESS_TEAM_DOMAIN)}/cdn-cgi/access/certs`,
            defaultRole: c.ACCESS_DEFAULT_ROLE ?? "standard_user",
          }
        : null,
  }));
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;

const parsed = new WeakMap<object, GatewayConfig>();

export class ConfigError extends Error {}

export function gatewayConfig(env: GatewayEnv): GatewayConfig {
  let config = parsed.get(env);
  if (!config) {
    const result = GatewayConfigSchema.safeParse(env);
    if (!result.success) {
      const problems = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      throw new ConfigError(`gateway misconfigured: ${problems}`);
    }
    config = result.data;
    parsed.set(env, config);
  }
  return config;
}
