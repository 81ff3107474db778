/**
 * `npm run chaos` — the fault suite (docs/chaos.md). On loopback only, with a throwaway Postgres
 * cluster it creates and removes itself (never the shared server):
 *
 *   throwaway cluster (initdb + pg_ctl, free port) → migrations → WebSocket bridge → mock upstream
 *   → both workers in one workerd through Miniflare, each from its wrangler.toml (the local queue
 *   between them, with the consumer's retry and dead-letter settings) → scenarios set up through
 *   the admin API (a user with credits, a key and a priced model per scenario)
 *
 * Then mixed requests, spread over the load window in a seeded random order: JSON and streamed
 * answers, clients that abort at a random offset into the stream, upstream cuts, error frames,
 * upstreams that report no usage or garbage usage, and a key first used while Postgres is down —
 * with Postgres stopped (fast shutdown: connections cut) in the middle of the load. Afterwards it
 * waits for the queue to drain and reconciles each scenario: requests sent = analytics rows,
 * ledger rows = priced analytics rows (each `usage:<event_id>` naming one), Σ ledger = Σ analytics
 * cost, balance (checkpoint + later ledger, what the 402 gate reads) = grants − charges, every 2xx
 * charged (the models are priced; missing or garbage usage is counted by the gateway), no dead
 * letters and no 500. Exits non-zero on any discrepancy.
 *
 * Environment: CHAOS_REQUESTS (default 320), CHAOS_SECONDS (load window, 40), CHAOS_OUTAGE_SECONDS
 * (20), CHAOS_SEED (random), CHAOS_DRAIN_SECONDS (how long to wait for the queue, 150).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Miniflare } from "miniflare";
import pg from "pg";
import { workerFromConfig } from "../bench/workerd.ts";
import { Money, moneyText } from "../shared/pricing.ts";
import { generateEncryptionKey } from "../shared/secret-box.ts";
import { migrate } from "./migrate.ts";
import { startMockUpstream } from "./mock-upstream.ts";
import { createPgCluster } from "./pg-cluster.ts";
import { seededRandom } from "./seeded-random.ts";
import { ROOT } from "./stack.ts";
import { putTokenizerRanks } from "./tokenizer-ranks.ts";
import { startWsBridge } from "./ws-bridge.ts";

export interface ChaosOptions {
  requests: number;
  loadSeconds: number;
  outageSeconds: number;
  seed: number;
  drainSeconds: number;
  log: (line: string) => void;
}

/** How a scenario's requests are made and what its upstream does. */
interface ScenarioSpec {
  name: string;
  /** The upstream model name: `mock-gpt+mode…` (dev/mock-upstream.ts). */
  upstream: string;
  /** Share of the requests. */
  weight: number;
  stream: "yes" | "no" | "mixed";
  /** Abort the client's stream at a random offset after the headers. */
  abort?: boolean;
  /** Never used before Postgres goes down: its key is cold while it is down. */
  coldUntilOutage?: boolean;
}

export const SCENARIOS: readonly ScenarioSpec[] = [
  { name: "json", upstream: "mock-gpt", weight: 3, stream: "no" },
  { name: "stream", upstream: "mock-gpt", weight: 3, stream: "yes" },
  { name: "client-abort", upstream: "mock-gpt+slow", weight: 2, stream: "yes", abort: true },
  { name: "upstream-cut", upstream: "mock-gpt+cut_stream", weight: 1, stream: "yes" },
  { name: "error-frame", upstream: "mock-gpt+error_frame", weight: 1, stream: "yes" },
  { name: "no-usage", upstream: "mock-gpt+nousage", weight: 1, stream: "mixed" },
  { name: "garbage-usage", upstream: "mock-gpt+garbage", weight: 1, stream: "mixed" },
  { name: "cold-key", upstream: "mock-gpt", weight: 1, stream: "mixed", coldUntilOutage: true },
];

const GRANT = "1000";
const PRICES = { input_price_per_token: "0.001", output_price_per_token: "0.002" };

export interface ScenarioReport {
  scenario: string;
  sent: number;
  /** Status → count (0 = the client aborted, or no answer at all). */
  statuses: Record<string, number>;
  analyticsRows: number;
  ledgerRows: number;
  pricedRows: number;
  ledgerSum: string;
  analyticsCost: string;
  balance: string;
  grantsMinusCharges: string;
  /** 2xx answers recorded without a charge: served but not billed (every scenario's model is priced). */
  unbilled2xx: number;
  problems: string[];
}

export interface ChaosReport {
  seed: number;
  scenarios: ScenarioReport[];
  deadLetters: number;
  outage: { stoppedAtS: number; restartedAtS: number };
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function adminClient(gatewayUrl: string, adminToken: string) {
  return async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${gatewayUrl}/admin/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`chaos setup: ${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  };
}

interface Scenario extends ScenarioSpec {
  alias: string;
  userId: string;
  key: string;
}

interface Planned {
  scenario: Scenario;
  atMs: number;
  stream: boolean;
  abortAfterMs: number;
}

/** One request; resolves to its status (0 when the client aborted before the end or it failed). */
async function send(gatewayUrl: string, p: Planned): Promise<number> {
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(), 60_000);
  try {
    const res = await fetch(`${gatewayUrl}/ai/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${p.scenario.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: p.scenario.alias, messages: [{ role: "user", content: "Tell me something" }], stream: p.stream }),
      signal: controller.signal,
    });
    if (p.scenario.abort && res.ok && p.stream) {
      // Read until the offset, then walk away mid-stream.
      const reader = res.body!.getReader();
      const until = Date.now() + p.abortAfterMs;
      while (Date.now() < until) {
        const chunk = await Promise.race([reader.read(), sleep(Math.max(0, until - Date.now())).then(() => null)]);
        if (chunk === null || chunk.done) break;
      }
      controller.abort();
      await reader.cancel().catch(() => undefined);
      return 0;
    }
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  } catch {
    return 0;
  } finally {
    clearTimeout(deadline);
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const rand = seededRandom(o.seed);
  const outDir = mkdtempSync(join(tmpdir(), "tollgate-chaos-"));
  const cleanups: (() => Promise<unknown>)[] = [() => Promise.resolve(rmSync(outDir, { recursive: true, force: true }))];
  try {
    o.log("chaos: creating a throwaway Postgres cluster");
    const cluster = await createPgCluster();
    cleanups.push(() => cluster.remove());
    await migrate(cluster.url);
    const bridge = await startWsBridge();
    cleanups.push(() => bridge.close());
    const mock = await startMockUpstream();
    cleanups.push(() => mock.close());

    o.log("chaos: building both workers and starting them in workerd (Miniflare)");
    const adminToken = `tg-admin-chaos-${crypto.randomUUID()}`;
    const database = { DATABASE_URL: cluster.url, NEON_WS_PROXY: bridge.proxy, NEON_INSECURE_WEBSOCKET: "true", ADMIN_TOKEN: adminToken };
    const mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      workers: [
        workerFromConfig("gateway", join(ROOT, "wrangler.toml"), join(outDir, "gateway"), { ...database, ENCRYPTION_KEY: generateEncryptionKey() }),
        workerFromConfig("consumer", join(ROOT, "workers/consumer/wrangler.toml"), join(outDir, "consumer"), database),
      ],
    });
    cleanups.push(() => mf.dispose());
    const gatewayUrl = (await mf.ready).origin;
    // The built-in tokenizer's table, so usage the upstream did not report is counted (as `npm start` does).
    await putTokenizerRanks(mf, "gateway");

    const call = adminClient(gatewayUrl, adminToken);
    const endpoint = await call<{ id: string }>("POST", "/endpoints", { name: "chaos-mock", url: mock.baseUrl });
    const scenarios: Scenario[] = [];
    for (const spec of SCENARIOS) {
      const alias = `chaos-${spec.name}`;
      const user = await call<{ id: string }>("POST", "/users", { username: `chaos-${spec.name}`, email: `chaos-${spec.name}@example.com` });
      await call("POST", "/transactions", { user_id: user.id, transaction_type: "admin_grant", amount: GRANT, source_id: `chaos-${spec.name}` });
      const model = await call<{ id: string }>("POST", "/models", { alias, model_name: spec.upstream, hosted_on: endpoint.id, open_to_everyone: true });
      await call("PUT", `/models/${model.id}/tariffs`, [{ purpose: "realtime", ...PRICES }]);
      const key = await call<{ key: string }>("POST", `/users/${user.id}/api-keys`, { name: "chaos", purpose: "realtime" });
      scenarios.push({ ...spec, alias, userId: user.id, key: key.key });
    }

    // The plan: each request's scenario, start time, kind and abort offset, from the seed.
    const loadMs = o.loadSeconds * 1000;
    const outageStartMs = Math.max(0, (loadMs - o.outageSeconds * 1000) / 2);
    const outageEndMs = outageStartMs + o.outageSeconds * 1000;
    const totalWeight = scenarios.reduce((n, s) => n + s.weight, 0);
    const plan: Planned[] = [];
    for (let i = 0; i < o.requests; i++) {
      let pick = rand() * totalWeight;
      const scenario = scenarios.find((s) => (pick -= s.weight) < 0) ?? scenarios[0]!;
      const from = scenario.coldUntilOutage ? outageStartMs + 500 : 0;
      const stream = scenario.stream === "yes" || (scenario.stream === "mixed" && rand() < 0.5);
      plan.push({ scenario, atMs: from + rand() * (loadMs - from), stream, abortAfterMs: Math.floor(rand() * 1500) });
    }
    plan.sort((a, b) => a.atMs - b.atMs);

    o.log(`chaos: ${plan.length} requests over ${o.loadSeconds} s; Postgres down from ${(outageStartMs / 1000).toFixed(1)} s for ${o.outageSeconds} s (seed ${o.seed})`);
    const outage = (async () => {
      await sleep(outageStartMs);
      await cluster.stop();
      o.log("chaos: Postgres stopped");
      await sleep(outageEndMs - outageStartMs);
      await cluster.start();
      o.log("chaos: Postgres started again");
    })();
    const t0 = Date.now();
    const results = await Promise.all(
      plan.map(async (p) => {
        await sleep(Math.max(0, t0 + p.atMs - Date.now()));
        return { p, status: await send(gatewayUrl, p) };
      }),
    );
    await outage;
    const outageReport = { stoppedAtS: outageStartMs / 1000, restartedAtS: outageEndMs / 1000 };

    // Drain: every request is one analytics row once the queue has delivered it (retries included).
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    cleanups.push(() => client.end());
    const aliases = scenarios.map((s) => s.alias);
    const rowsNow = async () => Number((await client.query<{ n: string }>("SELECT count(*)::text AS n FROM http_analytics WHERE model = ANY($1)", [aliases])).rows[0]!.n);
    const drainDeadline = Date.now() + o.drainSeconds * 1000;
    let seen = await rowsNow();
    o.log(`chaos: load done; waiting for ${plan.length} analytics rows (${seen} so far)`);
    while (seen < plan.length && Date.now() < drainDeadline) {
      await sleep(1000);
      seen = await rowsNow();
    }
    // Anything beyond the count (a double write) would show in the reconciliation; give stragglers a moment.
    await sleep(1500);

    const reports: ScenarioReport[] = [];
    for (const s of scenarios) {
      const mine = results.filter((r) => r.p.scenario === s);
      const statuses: Record<string, number> = {};
      for (const r of mine) statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1;
      const { rows: a } = await client.query<{ rows: string; priced: string; cost: string; unbilled: string }>(
        `SELECT count(*)::text AS rows, count(*) FILTER (WHERE total_cost > 0)::text AS priced, coalesce(sum(total_cost), 0)::text AS cost,
                count(*) FILTER (WHERE status_code BETWEEN 200 AND 299 AND coalesce(total_cost, 0) = 0)::text AS unbilled
           FROM http_analytics WHERE model = $1`,
        [s.alias],
      );
      const { rows: l } = await client.query<{ rows: string; sum: string; unmatched: string }>(
        `SELECT count(*)::text AS rows, coalesce(sum(t.amount), 0)::text AS sum,
                count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM http_analytics h WHERE 'usage:' || h.event_id = t.source_id AND h.user_id = t.user_id))::text AS unmatched
           FROM credits_transactions t WHERE t.user_id = $1 AND t.transaction_type = 'usage'`,
        [s.userId],
      );
      const { rows: userCost } = await client.query<{ cost: string }>("SELECT coalesce(sum(total_cost), 0)::text AS cost FROM http_analytics WHERE user_id = $1", [s.userId]);
      const { rows: g } = await client.query<{ grants: string; charges: string }>(
        `SELECT coalesce(sum(amount) FILTER (WHERE transaction_type IN ('admin_grant', 'purchase')), 0)::text AS grants,
                coalesce(sum(amount) FILTER (WHERE transaction_type NOT IN ('admin_grant', 'purchase')), 0)::text AS charges
           FROM credits_transactions WHERE user_id = $1`,
        [s.userId],
      );
      // The balance as the gateway's 402 gate and the admin API compute it (checkpoint + later ledger rows).
      const user = await call<{ balance: string }>("GET", `/users/${s.userId}`);
      const sent = mine.length;
      const analyticsRows = Number(a[0]!.rows);
      const pricedRows = Number(a[0]!.priced);
      const ledgerRows = Number(l[0]!.rows);
      const ledgerSum = new Money(l[0]!.sum);
      const analyticsCost = new Money(userCost[0]!.cost);
      const grantsMinusCharges = new Money(g[0]!.grants).minus(new Money(g[0]!.charges));
      const balance = new Money(user.balance);
      const problems: string[] = [];
      if (analyticsRows !== sent) problems.push(`${sent} requests sent but ${analyticsRows} analytics rows`);
      if (ledgerRows !== pricedRows) problems.push(`${pricedRows} priced analytics rows but ${ledgerRows} ledger rows`);
      if (Number(l[0]!.unmatched) > 0) problems.push(`${l[0]!.unmatched} ledger rows name no analytics row`);
      if (!ledgerSum.eq(analyticsCost)) problems.push(`Σ ledger ${moneyText(ledgerSum)} ≠ Σ analytics cost ${moneyText(analyticsCost)}`);
      if (!new Money(a[0]!.cost).eq(analyticsCost)) problems.push(`analytics cost by alias ${a[0]!.cost} ≠ by user ${moneyText(analyticsCost)}`);
      if (!balance.eq(grantsMinusCharges)) problems.push(`balance ${moneyText(balance)} ≠ grants − charges ${moneyText(grantsMinusCharges)}`);
      if ((statuses["500"] ?? 0) > 0) problems.push(`${statuses["500"]} answers were 500`);
      if (Number(a[0]!.unbilled) > 0) problems.push(`${a[0]!.unbilled} answers served (2xx) without a charge`);
      reports.push({
        scenario: s.name,
        sent,
        statuses,
        analyticsRows,
        ledgerRows,
        pricedRows,
        ledgerSum: moneyText(ledgerSum),
        analyticsCost: moneyText(analyticsCost),
        balance: moneyText(balance),
        grantsMinusCharges: moneyText(grantsMinusCharges),
        unbilled2xx: Number(a[0]!.unbilled),
        problems,
      });
    }
    const deadLetters = Number((await client.query<{ n: string }>("SELECT count(*)::text AS n FROM dead_letters")).rows[0]!.n);
    const ok = deadLetters === 0 && reports.every((r) => r.problems.length === 0);
    return { seed: o.seed, scenarios: reports, deadLetters, outage: outageReport, ok };
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  }
}

/** The reconciliation as a table, one row per scenario. */
export function formatChaosReport(r: ChaosReport): string {
  const head = ["scenario", "sent", "statuses", "analytics", "priced", "ledger", "Σ ledger", "Σ analytics cost", "balance", "grants − charges", "unbilled 2xx", "ok"];
  const rows = r.scenarios.map((s) => [
    s.scenario,
    String(s.sent),
    Object.entries(s.statuses)
      .sort()
      .map(([k, v]) => `${k === "0" ? "aborted" : k}×${v}`)
      .join(" "),
    String(s.analyticsRows),
    String(s.pricedRows),
    String(s.ledgerRows),
    s.ledgerSum,
    s.analyticsCost,
    s.balance,
    s.grantsMinusCharges,
    String(s.unbilled2xx),
    s.problems.length === 0 ? "yes" : "NO",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  const out = [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)];
  out.push("", `seed ${r.seed}; Postgres stopped at ${r.outage.stoppedAtS.toFixed(1)} s, started at ${r.outage.restartedAtS.toFixed(1)} s; dead letters: ${r.deadLetters}`);
  for (const s of r.scenarios) for (const p of s.problems) out.push(`DISCREPANCY ${s.scenario}: ${p}`);
  out.push(r.ok ? "reconciled: no discrepancy" : "FAILED: discrepancies above");
  return out.join("\n");
}

async function main(): Promise<void> {
  const num = (name: string, fallback: number) => {
    const v = process.env[name];
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
    return n;
  };
  const report = await runChaos({
    requests: num("CHAOS_REQUESTS", 320),
    loadSeconds: num("CHAOS_SECONDS", 40),
    outageSeconds: num("CHAOS_OUTAGE_SECONDS", 20),
    seed: num("CHAOS_SEED", Math.floor(Math.random() * 2 ** 31)),
    drainSeconds: num("CHAOS_DRAIN_SECONDS", 150),
    log: (line) => console.log(line),
  });
  console.log(formatChaosReport(report));
  process.exitCode = report.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  });
}
