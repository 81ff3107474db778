/**
 * The consumer's vars and secrets, parsed once per isolate at the boundary. Failing closed
 * without echoing values: a queue batch is retried (not the messages' fault) until the operator
 * fixes the configuration, and the replay endpoint answers 503 without an ADMIN_TOKEN.
 */
import * as z from "zod";
import { DbSettingsSchema } from "../../../shared/db.ts";

export const ConsumerConfigSchema = DbSettingsSchema.extend({
  /** The dead-letter queue's name: a batch from it is stored for replay, not written. */
  DEAD_LETTER_QUEUE: z.string().optional(),
});
export type ConsumerConfig = z.infer<typeof ConsumerConfigSchema>;

/** What the dead-letter replay endpoint needs besides the database: its bearer token. */
export const AdminSettingsSchema = DbSettingsSchema.extend({
  ADMIN_TOKEN: z.string({ error: "ADMIN_TOKEN is not set" }).min(16, { error: "ADMIN_TOKEN must be at least 16 characters" }),
});
export type AdminSettings = z.infer<typeof AdminSettingsSchema>;

export class ConfigError extends Error {}

const parsedConfig = new WeakMap<object, ConsumerConfig>();
const parsedAdmin = new WeakMap<object, AdminSettings>();

/** The queue handler's settings; throws a ConfigError naming the bad settings (never their values). */
export function consumerConfig(env: ConsumerEnv): ConsumerConfig {
  let config = parsedConfig.get(env);
  if (!config) {
    const result = ConsumerConfigSchema.safeParse(env);
    if (!result.success) throw new ConfigError(`consumer misconfigured: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    config = result.data;
    parsedConfig.set(env, config);
  }
  return config;
}

/** The replay endpoint's settings, or null when it is not configured (no or a short ADMIN_TOKEN). */
export function adminSettings(env: ConsumerEnv): AdminSettings | null {
  let settings = parsedAdmin.get(env);
  if (!settings) {
    const result = AdminSettingsSchema.safeParse(env);
    if (!result.success) return null;
    settings = result.data;
    parsedAdmin.set(env, settings);
  }
  return settings;
}
