/**
 * The chaos suite's short version (`npm run chaos` is the full one, docs/chaos.md): both workers in
 * workerd on a throwaway Postgres cluster, mixed requests with client aborts, upstream cuts, error
 * frames, no-usage and garbage-usage upstreams, Postgres stopped mid-load; then every scenario
 * reconciled (requests = analytics rows, ledger = priced rows, Σ ledger = Σ cost, balance =
 * grants − charges, no dead letters, no 500).
 */
import { describe, expect, it } from "vitest";
import { formatChaosReport, runChaos } from "../../dev/chaos.ts";
import { pgClusterAvailable } from "../../dev/pg-cluster.ts";

describe.skipIf(!pgClusterAvailable())("chaos (short)", () => {
  it(
    "nothing is lost, doubled or mispriced through aborts, upstream faults and a Postgres outage",
    async () => {
      const report = await runChaos({ requests: 64, loadSeconds: 14, outageSeconds: 5, seed: 20261203, drainSeconds: 90, log: () => {} });
      const table = formatChaosReport(report);
      expect(report.ok, table).toBe(true);
      expect(report.scenarios.reduce((n, s) => n + s.sent, 0)).toBe(64);
      // The outage was felt where it should be and nowhere else: the key first used while Postgres
      // was down got 503s; warm keys were still answered.
      const cold = report.scenarios.find((s) => s.scenario === "cold-key")!;
      expect(cold.statuses["503"] ?? 0, table).toBeGreaterThan(0);
      const warm = report.scenarios.filter((s) => s.scenario === "json" || s.scenario === "stream");
      expect(warm.every((s) => (s.statuses["503"] ?? 0) === 0), table).toBe(true);
    },
    300_000,
  );
});
