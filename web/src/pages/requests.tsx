import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import { useMemo } from "react";
import { isManager } from "@/api/auth";
import { api, unwrap } from "@/api/client";
import { Empty, Loading, PageHeader, Pager, QueryError } from "@/components/page";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { NativeSelect } from "@/components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { creditAmount, ms, num, shortId, when } from "@/lib/format";
import { nameMap, useOwnKeys, useUsers } from "@/lib/names";
import { PERIODS, windowOf, type Period } from "@/lib/period";
import { useSession } from "@/lib/session";
import type { RequestsSearch } from "@/router";

const routeApi = getRouteApi("/app/requests");

const LIMIT = 50;

export function StatusBadge({ code }: { code: number }) {
  return <Badge variant={code < 300 ? "success" : code < 500 ? "warning" : "destructive"}>{code}</Badge>;
}

export default function Requests() {
  const session = useSession();
  const search = routeApi.useSearch();
  const navigate = useNavigate({ from: "/requests" });
  const set = (patch: Partial<RequestsSearch>) => void navigate({ search: (s) => ({ ...s, page: 1, ...patch }) });
  const window = useMemo(() => windowOf(search.period), [search.period]);
  const skip = (search.page - 1) * LIMIT;
  const query = {
    ...window,
    limit: LIMIT,
    skip,
    ...(search.model ? { model: search.model } : {}),
    ...(search.key ? { api_key_id: search.key } : {}),
    ...(search.user ? { user_id: search.user } : {}),
    ...(search.status ? { status_code: search.status } : {}),
  };
  const rows = useQuery({
    queryKey: ["requests", query],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/requests", { params: { query } })),
    placeholderData: keepPreviousData,
  });
  const users = useUsers(session);
  // A manager filtering by user picks among that user's keys; anyone else among their own.
  const ownKeys = useOwnKeys();
  const userKeys = useQuery({
    queryKey: ["api-keys", search.user, "all"],
    enabled: !!search.user,
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/users/{user_id}/api-keys", { params: { path: { user_id: search.user! }, query: { limit: 500 } } })).data,
  });
  const keys = search.user ? userKeys : ownKeys;
  const userNames = nameMap(users.data, (u) => u.username);

  return (
    <>
      <PageHeader title="Requests" description="Every inference request through the gateway, newest first, with its tokens and cost." />
      <Card className="mb-4 py-4">
        <CardContent className="grid gap-3 sm:grid-cols-2 lg:grid-cols-5">
          <NativeSelect aria-label="Period" value={search.period} onChange={(e) => set({ period: e.target.value as Period })}>
            {Object.entries(PERIODS).map(([k, p]) => (
              <option key={k} value={k}>
                {p.label}
              </option>
            ))}
          </NativeSelect>
          <Input
            aria-label="Model"
            placeholder="Model alias"
            defaultValue={search.model ?? ""}
            onKeyDown={(e) => {
              if (e.key === "Enter") set({ model: e.currentTarget.value.trim() || undefined });
            }}
            onBlur={(e) => {
              const v = e.currentTarget.value.trim() || undefined;
              if (v !== search.model) set({ model: v });
            }}
          />
          <NativeSelect aria-label="API key" value={search.key ?? ""} onChange={(e) => set({ key: e.target.value || undefined })}>
            <option value="">All keys</option>
            {(keys.data ?? []).map((k) => (
              <option key={k.id} value={k.id}>
                {k.name} ({k.key_prefix}…)
              </option>
            ))}
          </NativeSelect>
          {isManager(session) ? (
            <NativeSelect aria-label="User" value={search.user ?? ""} onChange={(e) => set({ user: e.target.value || undefined })}>
              <option value="">All users</option>
              {(users.data ?? []).map((u) => (
                <option key={u.id} value={u.id ?? ""}>
                  {u.username}
                </option>
              ))}
            </NativeSelect>
          ) : (
            <div />
          )}
          <NativeSelect aria-label="Status" value={search.status ? String(search.status) : ""} onChange={(e) => set({ status: e.target.value ? Number(e.target.value) : undefined })}>
            <option value="">Any status</option>
            {[200, 400, 401, 402, 403, 404, 408, 413, 429, 500, 502, 503, 504].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </NativeSelect>
        </CardContent>
      </Card>
      {rows.error && <QueryError error={rows.error} />}
      <Card className="py-2">
        <CardContent className="px-2">
          {rows.isPending ? (
            <Loading rows={8} label="Loading requests" />
          ) : rows.data && rows.data.data.length === 0 ? (
            <Empty>No requests match these filters.</Empty>
          ) : (
            <Table aria-label="Requests">
              <TableHeader>
                <TableRow>
                  <TableHead>Time</TableHead>
                  <TableHead>Model</TableHead>
                  <TableHead>Status</TableHead>
                  <TableHead>Key</TableHead>
                  {isManager(session) && <TableHead>User</TableHead>}
                  <TableHead className="text-right">Tokens in / out</TableHead>
                  <TableHead className="text-right">Cached</TableHead>
                  <TableHead className="text-right">Latency</TableHead>
                  <TableHead className="text-right">Cost (credits)</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {rows.data?.data.map((r) => (
                  <TableRow key={r.id}>
                    <TableCell>
                      <Link to="/requests/$requestId" params={{ requestId: r.id }} className="font-medium hover:underline" aria-label={`Request ${r.id} at ${when(r.timestamp)}`}>
                        {when(r.timestamp)}
                      </Link>
                    </TableCell>
                    <TableCell>
                      <span className="font-mono text-xs">{r.model ?? "—"}</span>
                      {r.response_type !== "chat.completion" && <span className="text-muted-foreground ml-2 text-xs">{r.response_type}</span>}
                    </TableCell>
                    <TableCell>
                      <StatusBadge code={r.status_code} />
                      {r.truncated && <Badge variant="warning" className="ml-1">truncated</Badge>}
                    </TableCell>
                    <TableCell className="text-muted-foreground">{r.api_key_id ? (r.api_key_name ?? shortId(r.api_key_id)) : "—"}</TableCell>
                    {isManager(session) && <TableCell className="text-muted-foreground">{r.user_id ? (userNames.get(r.user_id) ?? shortId(r.user_id)) : "—"}</TableCell>}
                    <TableCell className="text-right tabular-nums">
                      {num(r.prompt_tokens)} / {num(r.completion_tokens)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{num(r.cache_read_tokens)}</TableCell>
                    <TableCell className="text-right tabular-nums">{ms(r.duration_ms)}</TableCell>
                    <TableCell className="text-right font-medium tabular-nums" data-cost>
                      {creditAmount(r.total_cost, 6)}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
          {rows.data && rows.data.total_count > 0 && (
            <div className="px-3">
              <Pager skip={skip} limit={LIMIT} total={rows.data.total_count} onPage={(page) => void navigate({ search: (s) => ({ ...s, page }) })} />
            </div>
          )}
        </CardContent>
      </Card>
    </>
  );
}
