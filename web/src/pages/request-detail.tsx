import { useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, Link } from "@tanstack/react-router";
import { ArrowLeft } from "lucide-react";
import { fetchRequest, RequestDetail } from "@/api/analytics";
import { ApiError } from "@/api/client";
import { JsonView } from "@/components/json-view";
import { Loading, PageHeader, QueryError } from "@/components/page";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { creditAmount, credits, ms, num, pricePerToken, when } from "@/lib/format";
import { StatusBadge } from "./requests";

const routeApi = getRouteApi("/app/requests/$requestId");

function Facts({ rows }: { rows: [string, React.ReactNode][] }) {
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm">
      {rows.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="text-muted-foreground">{k}</dt>
          <dd className="min-w-0 break-all">{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function Breakdown({ r }: { r: RequestDetail }) {
  const b = r.cost_breakdown;
  if (!b) return <p className="text-muted-foreground text-sm">This gateway does not report a cost breakdown. Total cost: {credits(r.total_cost, 6)}.</p>;
  const lines: [string, number, string][] = [
    ["Input (uncached)", r.prompt_tokens - r.cache_read_tokens - r.cache_write_5m_tokens - r.cache_write_1h_tokens - r.cache_write_24h_tokens, b.input],
    ["Cached read", r.cache_read_tokens, b.cache_read],
    ["Cache write, 5 minutes", r.cache_write_5m_tokens, b.cache_write_5m],
    ["Cache write, 1 hour", r.cache_write_1h_tokens, b.cache_write_1h],
    ["Cache write, 24 hours", r.cache_write_24h_tokens, b.cache_write_24h],
    ["Output", r.completion_tokens, b.output],
  ];
  return (
    <>
      <Table aria-label="Cost breakdown">
        <TableHeader>
          <TableRow>
            <TableHead>Part</TableHead>
            <TableHead className="text-right">Tokens</TableHead>
            <TableHead className="text-right">Cost (credits)</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {lines.map(([label, tokens, cost]) => (
            <TableRow key={label}>
              <TableCell>{label}</TableCell>
              <TableCell className="text-right tabular-nums">{num(Math.max(tokens, 0))}</TableCell>
              <TableCell className="text-right tabular-nums">{creditAmount(cost, 6)}</TableCell>
            </TableRow>
          ))}
          <TableRow>
            <TableCell className="font-semibold">Total</TableCell>
            <TableCell />
            <TableCell className="text-right font-semibold tabular-nums">{creditAmount(b.total, 6)}</TableCell>
          </TableRow>
        </TableBody>
      </Table>
      <p className="text-muted-foreground mt-3 text-sm">
        {b.tariff
          ? `Tariff: ${b.tariff.name ?? b.tariff.purpose ?? "default"}${b.tariff.completion_window ? ` (${b.tariff.completion_window})` : ""} — ${pricePerToken(b.tariff.input_price_per_token)} in, ${pricePerToken(b.tariff.output_price_per_token)} out per token, from ${when(b.tariff.valid_from)}.`
          : "No tariff applied (free)."}
      </p>
    </>
  );
}

export default function RequestDetailPage() {
  const { requestId } = routeApi.useParams();
  const qc = useQueryClient();
  // The row as the usage log showed it: shown at once, and all there is on a gateway without
  // the detail endpoint.
  const listed = qc
    .getQueriesData<{ data: unknown[] }>({ queryKey: ["requests"] })
    .flatMap(([, page]) => page?.data ?? [])
    .map((row) => RequestDetail.safeParse(row))
    .find((p) => p.success && p.data.id === requestId)?.data;
  const q = useQuery({ queryKey: ["request", requestId], queryFn: () => fetchRequest(requestId), placeholderData: listed, retry: false });
  const noDetailEndpoint = q.error instanceof ApiError && q.error.status === 404 && q.error.message.startsWith("No route") && listed !== undefined;
  const r = q.data ?? (noDetailEndpoint ? listed : undefined);
  return (
    <>
      <Button asChild variant="ghost" size="sm" className="mb-2 -ml-2">
        <Link to="/requests" search={{ period: "7d", page: 1 }}>
          <ArrowLeft aria-hidden /> Requests
        </Link>
      </Button>
      <PageHeader title={`Request ${requestId}`} description={r ? `${r.method} ${r.uri} · ${when(r.timestamp)}` : undefined} />
      {q.error && !noDetailEndpoint && <QueryError error={q.error} />}
      {q.isPending && <Loading rows={6} />}
      {r && (
        <div className="grid gap-6 lg:grid-cols-2">
          <Card>
            <CardHeader>
              <CardTitle>Summary</CardTitle>
            </CardHeader>
            <CardContent>
              <Facts
                rows={[
                  ["Status", <StatusBadge key="s" code={r.status_code} />],
                  ["Model", <code key="m">{r.model ?? "—"}</code>],
                  ["Served by", `${r.served_model ?? "—"}${r.provider_name ? ` on ${r.provider_name}` : ""}`],
                  ...(r.attempts
                    ? ([
                        ["Component", <code key="c">{r.served_component ?? "none served"}</code>],
                        [
                          `Attempts (${r.attempt_count ?? r.attempts.length})`,
                          <ol key="a" className="list-decimal pl-4">
                            {r.attempts.map((a, i) => (
                              <li key={i}>
                                <code>{a.component}</code> → {a.status}
                                {a.error ? ` (${a.error})` : ""}
                              </li>
                            ))}
                          </ol>,
                        ],
                      ] as [string, React.ReactNode][])
                    : []),
                  ["Finish reason", r.finish_reason ?? "—"],
                  ["Latency", ms(r.duration_ms)],
                  ["Time to first byte", ms(r.duration_to_first_byte_ms)],
                  ["Tokens", `${num(r.prompt_tokens)} in · ${num(r.completion_tokens)} out · ${num(r.reasoning_tokens)} reasoning`],
                  ["Origin", `${r.request_origin} (${r.access_source})`],
                  ["Event id", <code key="e">{r.event_id}</code>],
                  ["User agent", r.user_agent ?? "—"],
                ]}
              />
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle>Cost</CardTitle>
            </CardHeader>
            <CardContent>
              <Breakdown r={r} />
            </CardContent>
          </Card>
          <Card className="lg:col-span-2">
            <CardHeader>
              <CardTitle>Stored body</CardTitle>
            </CardHeader>
            <CardContent className="grid gap-4 lg:grid-cols-2">
              {r.stored_response ? (
                <>
                  <div>
                    <h3 className="mb-2 text-sm font-medium">Request</h3>
                    <JsonView value={r.stored_response.request_body} label="Request body" />
                  </div>
                  <div>
                    <h3 className="mb-2 text-sm font-medium">Response</h3>
                    <JsonView value={r.stored_response.response_body} label="Response body" />
                  </div>
                </>
              ) : (
                <p className="text-muted-foreground text-sm">No body was stored for this request (only requests with store: true keep theirs).</p>
              )}
            </CardContent>
          </Card>
        </div>
      )}
    </>
  );
}
