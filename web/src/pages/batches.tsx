import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { Empty, Loading, PageHeader, Pager, QueryError } from "@/components/page";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { num, when } from "@/lib/format";

const LIMIT = 50;

const STATUS_VARIANT = {
  completed: "success",
  failed: "destructive",
  expired: "destructive",
  cancelled: "secondary",
  cancelling: "warning",
  finalizing: "default",
  in_progress: "default",
  validating: "secondary",
} as const;

const isoOf = (seconds: number | null) => (seconds === null ? null : new Date(seconds * 1000).toISOString());

export default function Batches() {
  const [skip, setSkip] = useState(0);
  const list = useQuery({
    queryKey: ["batches", skip],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/batches", { params: { query: { limit: LIMIT, skip } } })),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      <PageHeader title="Batches" description="Batches submitted through the Batches API (/ai/v1/batches): their status and how many of their requests have finished. Each request's result is under Responses." />
      {list.error && <QueryError error={list.error} />}
      <Card className="py-2">
        <CardContent className="px-2">
          {list.isPending ? (
            <Loading rows={6} label="Loading batches" />
          ) : list.data?.data.length === 0 ? (
            <Empty>No batches yet. Upload a JSONL file to /ai/v1/files and create a batch with /ai/v1/batches.</Empty>
          ) : (
            <Table aria-label="Batches">
              <TableHeader>
                <TableRow>
                  <TableHead>Created</TableHead>
                  <TableHead>Id</TableHead>
                  <TableHead>Endpoint</TableHead>
                  <TableHead>Window</TableHead>
                  <TableHead>Status</TableHead>
                  <TableHead className="text-right">Completed</TableHead>
                  <TableHead className="text-right">Failed</TableHead>
                  <TableHead className="text-right">Total</TableHead>
                  <TableHead>Expires</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {list.data?.data.map((b) => (
                  <TableRow key={b.id}>
                    <TableCell>{when(isoOf(b.created_at))}</TableCell>
                    <TableCell className="font-mono text-xs">{b.id}</TableCell>
                    <TableCell className="font-mono text-xs">{b.endpoint}</TableCell>
                    <TableCell>{b.completion_window}</TableCell>
                    <TableCell>
                      <Badge variant={STATUS_VARIANT[b.status]}>{b.status.replace("_", " ")}</Badge>
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{num(b.request_counts.completed)}</TableCell>
                    <TableCell className="text-right tabular-nums">{num(b.request_counts.failed)}</TableCell>
                    <TableCell className="text-right tabular-nums">{num(b.request_counts.total)}</TableCell>
                    <TableCell className="text-muted-foreground">{when(isoOf(b.expires_at))}</TableCell>
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
