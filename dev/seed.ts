/**
 * The demo seed for `npm start` and the end-to-end tests, made through the admin API itself (the
 * same code paths an operator uses, so the demo exercises them on every start): a demo user with
 * credits, an endpoint (the bundled mock upstream unless a real one is named), a demo model on it
 * open to everyone with a realtime tariff, and a fresh API key.
 *
 * Safe to run on every start: existing rows are found and updated; the credit grant carries a
 * fixed `source_id`, so it is made once; the previous demo key is deleted because only its hash
 * was kept.
 */
export const DEMO_MODEL_ALIAS = "demo-model";
export const DEMO_USER_EMAIL = "demo@tollgate.local";
const DEMO_USERNAME = "demo";
const DEMO_ENDPOINT = "demo-upstream";
const DEMO_KEY_NAME = "demo key (npm start)";

export interface SeedOptions {
  /** The running gateway, e.g. http://127.0.0.1:8787. */
  gatewayUrl: string;
  adminToken: string;
  upstreamBaseUrl: string;
  /** The upstream's model name for the demo alias. */
  upstreamModel: string;
  upstreamApiKey?: string;
  /** Credits granted once to the demo user. */
  grant?: string;
}

export interface SeedResult {
  userId: string;
  apiKey: string;
  apiKeyId: string;
  modelAlias: string;
}

interface Page<T> {
  data: T[];
  total_count: number;
}

/** A minimal admin API client: JSON in, JSON out, and an error that says which call failed. */
function adminClient(gatewayUrl: string, adminToken: string) {
  return async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${gatewayUrl}/admin/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`seeding: ${method} /admin/api/v1${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
}

type Call = ReturnType<typeof adminClient>;

/** Every item of a paginated list (the demo data is small; this still pages correctly). */
async function listAll<T>(call: Call, path: string): Promise<T[]> {
  const out: T[] = [];
  for (let skip = 0; ; skip += 1000) {
    const page = await call<Page<T>>("GET", `${path}${path.includes("?") ? "&" : "?"}skip=${skip}&limit=1000`);
    out.push(...page.data);
    if (page.data.length < 1000) return out;
  }
}

export async function seedDemo(o: SeedOptions): Promise<SeedResult> {
  const call = adminClient(o.gatewayUrl, o.adminToken);

  const users = await listAll<{ id: string; username: string }>(call, "/users");
  const user =
    users.find((u) => u.username === DEMO_USERNAME) ??
    (await call<{ id: string }>("POST", "/users", { username: DEMO_USERNAME, email: DEMO_USER_EMAIL, display_name: "Demo user" }));

  await call("POST", "/transactions", {
    user_id: user.id,
    transaction_type: "admin_grant",
    amount: o.grant ?? "100",
    source_id: "demo-grant",
    description: "Demo credits from npm start",
  });

  const endpointFields = { url: o.upstreamBaseUrl, api_key: o.upstreamApiKey ?? null };
  const endpoints = await listAll<{ id: string; name: string }>(call, "/endpoints");
  const existingEndpoint = endpoints.find((e) => e.name === DEMO_ENDPOINT);
  const endpoint = existingEndpoint
    ? await call<{ id: string }>("PATCH", `/endpoints/${existingEndpoint.id}`, endpointFields)
    : await call<{ id: string }>("POST", "/endpoints", { name: DEMO_ENDPOINT, description: "Endpoint created by npm start", ...endpointFields });

  const modelFields = { model_name: o.upstreamModel, hosted_on: endpoint.id, open_to_everyone: true };
  const models = await listAll<{ id: string; alias: string }>(call, "/models");
  const existingModel = models.find((m) => m.alias === DEMO_MODEL_ALIAS);
  const model = existingModel
    ? await call<{ id: string }>("PATCH", `/models/${existingModel.id}`, modelFields)
    : await call<{ id: string }>("POST", "/models", { alias: DEMO_MODEL_ALIAS, description: "Demo model created by npm start", ...modelFields });
  // A realtime price only if it has none: prices an operator set since are left as they are.
  type Tariff = { purpose: string; completion_window: string | null; input_price_per_token: string; output_price_per_token: string };
  const { data: tariffs } = await call<{ data: Tariff[] }>("GET", `/models/${model.id}/tariffs`);
  if (!tariffs.some((t) => t.purpose === "realtime" && t.completion_window === null)) {
    await call("PUT", `/models/${model.id}/tariffs`, [...tariffs, { purpose: "realtime", completion_window: null, input_price_per_token: "0.000001", output_price_per_token: "0.000002" }]);
  }

  for (const old of await listAll<{ id: string; name: string }>(call, `/users/${user.id}/api-keys`)) {
    if (old.name === DEMO_KEY_NAME) await call("DELETE", `/users/${user.id}/api-keys/${old.id}`);
  }
  const key = await call<{ id: string; key: string }>("POST", `/users/${user.id}/api-keys`, { name: DEMO_KEY_NAME, purpose: "realtime" });
  return { userId: user.id, apiKey: key.key, apiKeyId: key.id, modelAlias: DEMO_MODEL_ALIAS };
}
