import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { Empty, Loading, PageHeader, Pager, QueryError } from "@/components/page";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { creditAmount, ms, num, when } from "@/lib/format";

const LIMIT = 50;

export function ResponseStatus({ status }: { status: string }) {
  return <Badge variant={status === "completed" ? "success" : status === "failed" ? "destructive" : "secondary"}>{status}</Badge>;
}

export default function Responses() {
  const [skip, setSkip] = useState(0);
  const list = useQuery({
    queryKey: ["responses", skip],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/batches/requests", { params: { query: { limit: LIMIT, skip } } })),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      <PageHeader title="Responses" description="Responses stored with store: true (the Responses API and chat completions), with their bodies, tokens and cost." />
      {list.error && <QueryError error={list.error} />}
      <Card className="py-2">
        <CardContent className="px-2">
          {list.isPending ? (
            <Loading rows={6} label="Loading responses" />
          ) : list.data?.data.length === 0 ? (
            <Empty>No stored responses. Requests with store: true keep their bodies here.</Empty>
          ) : (
            <Table aria-label="Stored responses">
              <TableHeader>
                <TableRow>
                  <TableHead>Created</TableHead>
                  <TableHead>Id</TableHead>
                  <TableHead>Model</TableHead>
                  <TableHead>Status</TableHead>
                  <TableHead>By</TableHead>
                  <TableHead className="text-right">Tokens</TableHead>
                  <TableHead className="text-right">Duration</TableHead>
                  <TableHead className="text-right">Cost (credits)</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {list.data?.data.map((r) => (
                  <TableRow key={r.id}>
                    <TableCell>{when(r.created_at)}</TableCell>
                    <TableCell>
                      <Link to="/responses/$responseId" params={{ responseId: r.id }} className="font-mono text-xs hover:underline">
                        {r.id}
                      </Link>
                    </TableCell>
                    <TableCell className="font-mono text-xs">{r.model}</TableCell>
                    <TableCell>
                      <ResponseStatus status={r.status} />
                    </TableCell>
                    <TableCell className="text-muted-foreground">{r.created_by_email ?? "—"}</TableCell>
                    <TableCell className="text-right tabular-nums">{num(r.total_tokens)}</TableCell>
                    <TableCell className="text-right tabular-nums">{ms(r.duration_ms)}</TableCell>
                    <TableCell className="text-right tabular-nums">{creditAmount(r.total_cost, 6)}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
          {list.data && list.data.total_count > LIMIT && (
            <div className="px-3">
              <Pager skip={skip} limit={LIMIT} total={list.data.total_count} onPage={(p) => setSkip((p - 1) * LIMIT)} />
            </div>
          )}
        </CardContent>
      </Card>
    </>
  );
}
