import { useQuery } from "@tanstack/react-query";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import Decimal from "decimal.js";
import { Suspense, useMemo } from "react";
import { cachedTokens, fetchAggregate, type Aggregate, type Metrics } from "@/api/analytics";
import { isSystemUser, seesAll, type Session } from "@/api/auth";
import { api, currentOrganization, unwrap } from "@/api/client";
import { Loading, PageHeader, QueryError } from "@/components/page";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { NativeSelect } from "@/components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { compact, creditAmount, credits, creditTick, ms, num, pct, shortId } from "@/lib/format";
import { nameMap, useOwnKeys, useUsers } from "@/lib/names";
import { PERIODS, windowOf, type Period } from "@/lib/period";
import { usageChart } from "@/lib/preloads";
import { useSession } from "@/lib/session";
import type { Series } from "@/components/usage-chart";

const routeApi = getRouteApi("/app/");

const UsageChart = usageChart.Component;

function Stat({ label, value, detail, testId }: { label: string; value: string; detail?: string; testId: string }) {
  return (
    <Card className="gap-1 py-4">
      <CardContent>
        <p className="text-muted-foreground text-xs font-medium tracking-wide uppercase" id={`${testId}-label`}>
          {label}
        </p>
        <p className="mt-1 text-2xl font-semibold tabular-nums" aria-labelledby={`${testId}-label`} data-stat={testId}>
          {value}
        </p>
        {detail && <p className="text-muted-foreground mt-0.5 text-xs">{detail}</p>}
      </CardContent>
    </Card>
  );
}

const hitRate = (m: Metrics) => (m.prompt_tokens > 0 ? cachedTokens(m) / m.prompt_tokens : null);

/** Every bucket start of the window (buckets with no requests are zeros, not gaps). */
function bucketStarts(agg: Aggregate): number[] {
  const step = agg.bucket === "hour" ? 3600_000 : 86400_000;
  const seen = agg.buckets.map((b) => Date.parse(b.start));
  const first = Math.floor(Date.parse(agg.created_after) / step) * step;
  const starts = new Set(seen);
  for (let t = first; t < Date.parse(agg.created_before); t += step) starts.add(t);
  return [...starts].sort((a, b) => a - b).map((t) => t / 1000);
}

function chartData(agg: Aggregate, label: (key: string | null) => string): { times: number[]; series: Series[] } {
  const times = bucketStarts(agg);
  const index = new Map(times.map((t, i) => [t, i]));
  const top = [...agg.groups].sort((a, b) => new Decimal(b.total_cost).cmp(a.total_cost)).slice(0, 5).map((g) => g.key);
  const series = new Map<string, number[]>();
  for (const key of [...top.map(label), ...(agg.groups.length > 5 ? ["Other"] : [])]) series.set(key, new Array<number>(times.length).fill(0));
  for (const b of agg.buckets) {
    const name = top.includes(b.key) ? label(b.key) : "Other";
    const row = series.get(name);
    const i = index.get(Date.parse(b.start) / 1000);
    if (row && i !== undefined) row[i] = (row[i] ?? 0) + Number(b.total_cost);
  }
  return { times, series: [...series].map(([l, values]) => ({ label: l, values })) };
}


/** "own": the signed-in user's credits (whose burn is their own spend, not the page's totals). */
type CreditScope = "org" | "platform" | "own";

/**
 * Whose credits the balance and runway cards show: the organization acted for; for the ADMIN_TOKEN
 * (the system user, which holds no credits) every account's together, the platform's prepaid
 * credits; else the signed-in user's own. Known before anything loads, so the cards' names never
 * change under the reader.
 */
function creditScope(session: Session): CreditScope {
  if (currentOrganization()) return "org";
  return isSystemUser(session) ? "platform" : "own";
}

function useCreditHolder(scope: CreditScope) {
  const org = currentOrganization();
  return useQuery({
    queryKey: ["users", "credit-holder", org, scope],
    queryFn: async (): Promise<{ balance: string; detail: string }> => {
      if (scope === "org") {
        const o = unwrap(await api.GET("/admin/api/v1/users/{id}", { params: { path: { id: org! } } }));
        return { balance: o.balance, detail: `${o.display_name || o.username}'s credits` };
      }
      if (scope === "platform") {
        const page = unwrap(await api.GET("/admin/api/v1/users", { params: { query: { limit: 500 } } }));
        const total = page.data.reduce((sum, u) => sum.plus(u.balance), new Decimal(0));
        const shown = page.data.length < page.total_count ? ` (the first ${page.data.length} of ${page.total_count})` : "";
        return { balance: total.toFixed(), detail: `all ${page.data.length === 1 ? "account" : "accounts"} together${shown}` };
      }
      const me = unwrap(await api.GET("/admin/api/v1/users/{id}", { params: { path: { id: "current" } } }));
      return { balance: me.balance, detail: "your credits" };
    },
  });
}

export default function Overview() {
  const session = useSession();
  const { period, by } = routeApi.useSearch();
  const navigate = useNavigate({ from: "/" });
  const window = useMemo(() => windowOf(period), [period]);
  const bucket = PERIODS[period].bucket;
  const agg = useQuery({ queryKey: ["aggregate", window, bucket, by], queryFn: () => fetchAggregate({ ...window, bucket, group_by: by }) });
  const scope = creditScope(session);
  const credit = useCreditHolder(scope);
  const users = useUsers(session, by === "user");
  const keys = useOwnKeys();
  const names = useMemo(() => {
    if (by === "user") return nameMap(users.data, (u) => u.display_name || u.username);
    if (by === "key") return nameMap(keys.data, (k) => `${k.name} (${k.key_prefix}…)`);
    return new Map<string, string>();
  }, [by, users.data, keys.data]);
  const label = (key: string | null) => (key === null ? (by === "model" ? "(no model)" : "(none)") : (names.get(key) ?? (by === "model" ? key : shortId(key))));

  const t = agg.data?.totals;
  const days = PERIODS[period].ms / 86400_000;
  const burn = t ? new Decimal(t.total_cost).div(days) : null;
  const balance = credit.data?.balance ?? null;
  // The runway divides a balance by the spend of the same account(s): someone who sees everyone's
  // usage but holds their own credits burns at their own rate.
  const ownBurnNeeded = scope === "own" && seesAll(session);
  const own = useQuery({
    queryKey: ["aggregate", window, "own", session.user.id],
    enabled: ownBurnNeeded,
    queryFn: () => fetchAggregate({ ...window, bucket: "day", group_by: "model", user_id: session.user.id! }),
  });
  const holderBurn = ownBurnNeeded ? (own.data ? new Decimal(own.data.totals.total_cost).div(days) : null) : burn;
  const runway = holderBurn && balance && holderBurn.gt(0) ? new Decimal(balance).div(holderBurn) : null;
  const chart = useMemo(() => (agg.data ? chartData(agg.data, label) : null), [agg.data, names]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <>
      <PageHeader
        title="Overview"
        description={seesAll(session) ? "Usage across the whole gateway (or the organization you act for)." : "Your usage and credits."}
        actions={
          <>
            <NativeSelect aria-label="Period" value={period} onChange={(e) => void navigate({ search: (s) => ({ ...s, period: e.target.value as Period }) })}>
              {Object.entries(PERIODS).map(([k, p]) => (
                <option key={k} value={k}>
                  {p.label}
                </option>
              ))}
            </NativeSelect>
            <NativeSelect aria-label="Break down by" value={by} onChange={(e) => void navigate({ search: (s) => ({ ...s, by: e.target.value as "model" | "user" | "key" }) })}>
              <option value="model">By model</option>
              {seesAll(session) && <option value="user">By user</option>}
              <option value="key">By API key</option>
            </NativeSelect>
          </>
        }
      />
      {agg.error && <QueryError error={agg.error} />}
      <section aria-label="Totals" className="grid grid-cols-2 gap-4 lg:grid-cols-4">
        <Stat testId="spend" label="Spend" value={t ? credits(t.total_cost) : "…"} detail={burn ? `${credits(burn.toString())} per day` : undefined} />
        <Stat testId="requests" label="Requests" value={t ? num(t.requests) : "…"} />
        <Stat testId="tokens" label="Tokens" value={t ? num(t.prompt_tokens + t.completion_tokens) : "…"} detail={t ? `${compact(t.prompt_tokens)} in · ${compact(t.completion_tokens)} out` : undefined} />
        <Stat testId="cache-hit" label="Cache-hit rate" value={t ? pct(hitRate(t)) : "…"} detail={t ? `${compact(cachedTokens(t))} cached prompt tokens` : undefined} />
        <Stat testId="latency" label="Latency p50 / p95" value={t ? `${ms(t.p50_duration_ms)} / ${ms(t.p95_duration_ms)}` : "…"} />
        <Stat testId="ttfb" label="Time to first byte p50 / p95" value={t ? `${ms(t.p50_ttfb_ms)} / ${ms(t.p95_ttfb_ms)}` : "…"} />
        <Stat testId="balance" label={scope === "platform" ? "Credits held" : "Balance"} value={credit.data ? credits(balance) : credit.error ? "—" : "…"} detail={credit.data?.detail} />
        <Stat testId="runway" label={scope === "platform" ? "Runway of all credits" : "Runway at this burn rate"} value={runway ? (runway.lt(1) ? "< 1 day" : runway.gte(365) ? "over a year" : `${runway.toFixed(0)} days`) : holderBurn?.isZero() ? "no spend" : "—"} detail={ownBurnNeeded ? "at your own spend" : undefined} />
      </section>
      <Card className="mt-6">
        <CardHeader>
          <CardTitle>Spend over time</CardTitle>
          <CardDescription>
            Per {bucket}, {by === "key" ? "by API key" : `by ${by}`}; top five and the rest.
          </CardDescription>
        </CardHeader>
        <CardContent>
          {agg.isPending ? (
            <Loading rows={4} label="Loading chart" />
          ) : chart && chart.times.length > 0 ? (
            <Suspense fallback={<Loading rows={4} label="Loading chart" />}>
              <UsageChart times={chart.times} series={chart.series} yLabel="Spend (credits)" format={creditTick} />
            </Suspense>
          ) : (
            <p className="text-muted-foreground py-12 text-center text-sm">No requests in this period.</p>
          )}
        </CardContent>
      </Card>
      <Card className="mt-6">
        <CardHeader>
          <CardTitle>Breakdown {by === "key" ? "by API key" : `by ${by}`}</CardTitle>
        </CardHeader>
        <CardContent>
          <Table aria-label={`Usage by ${by}`}>
            <TableHeader>
              <TableRow>
                <TableHead>{by === "key" ? "API key" : by === "user" ? "User" : "Model"}</TableHead>
                <TableHead className="text-right">Requests</TableHead>
                <TableHead className="text-right">Tokens in</TableHead>
                <TableHead className="text-right">Tokens out</TableHead>
                <TableHead className="text-right">Cache hit</TableHead>
                <TableHead className="text-right">p50</TableHead>
                <TableHead className="text-right">p95</TableHead>
                <TableHead className="text-right">Spend (credits)</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {(agg.data?.groups ?? [])
                .slice()
                .sort((a, b) => new Decimal(b.total_cost).cmp(a.total_cost) || b.requests - a.requests)
                .map((g) => (
                  <TableRow key={g.key ?? "null"}>
                    <TableCell className="font-medium">
                      {by === "model" && g.key ? (
                        <Link to="/requests" search={{ period, model: g.key, page: 1 }} className="hover:underline">
                          {label(g.key)}
                        </Link>
                      ) : (
                        label(g.key)
                      )}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{num(g.requests)}</TableCell>
                    <TableCell className="text-right tabular-nums">{num(g.prompt_tokens)}</TableCell>
                    <TableCell className="text-right tabular-nums">{num(g.completion_tokens)}</TableCell>
                    <TableCell className="text-right tabular-nums">{pct(hitRate(g))}</TableCell>
                    <TableCell className="text-right tabular-nums">{ms(g.p50_duration_ms)}</TableCell>
                    <TableCell className="text-right tabular-nums">{ms(g.p95_duration_ms)}</TableCell>
                    <TableCell className="text-right font-medium tabular-nums">{creditAmount(g.total_cost, 4)}</TableCell>
                  </TableRow>
                ))}
              {agg.data && agg.data.groups.length === 0 && (
                <TableRow>
                  <TableCell colSpan={8} className="text-muted-foreground py-8 text-center">
                    No requests in this period.
                  </TableCell>
                </TableRow>
              )}
            </TableBody>
          </Table>
        </CardContent>
      </Card>
    </>
  );
}
