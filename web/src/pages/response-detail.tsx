import { useQuery } from "@tanstack/react-query";
import { getRouteApi, Link, useNavigate } from "@tanstack/react-router";
import { ArrowLeft, Trash2 } from "lucide-react";
import { api, unwrap } from "@/api/client";
import { Confirm } from "@/components/confirm";
import { JsonView } from "@/components/json-view";
import { Loading, PageHeader, QueryError } from "@/components/page";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { credits, ms, num, when } from "@/lib/format";
import { ResponseStatus } from "./responses";

const routeApi = getRouteApi("/app/responses/$responseId");

export default function ResponseDetailPage() {
  const { responseId } = routeApi.useParams();
  const navigate = useNavigate();
  const q = useQuery({
    queryKey: ["responses", "detail", responseId],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/batches/requests/{id}", { params: { path: { id: responseId } } })),
  });
  const r = q.data;
  return (
    <>
      <Button asChild variant="ghost" size="sm" className="mb-2 -ml-2">
        <Link to="/responses">
          <ArrowLeft aria-hidden /> Responses
        </Link>
      </Button>
      <PageHeader
        title={`Response ${responseId}`}
        description={r ? `${r.model} · ${when(r.created_at)} · ${r.created_by_email ?? ""}` : undefined}
        actions={
          r && (
            <Confirm
              trigger={
                <Button variant="outline" className="text-destructive">
                  <Trash2 aria-hidden /> Erase
                </Button>
              }
              title="Erase this stored response?"
              description="Its bodies are deleted; the usage and ledger rows stay."
              action="Erase"
              onConfirm={async () => {
                unwrap(await api.DELETE("/admin/api/v1/batches/requests/{id}", { params: { path: { id: responseId } } }));
                await navigate({ to: "/responses" });
              }}
            />
          )
        }
      />
      {q.error && <QueryError error={q.error} />}
      {q.isPending && <Loading rows={6} />}
      {r && (
        <div className="grid gap-6">
          <Card>
            <CardContent className="flex flex-wrap gap-x-10 gap-y-3 text-sm">
              <div>
                <div className="text-muted-foreground text-xs">Status</div>
                <ResponseStatus status={r.status} />
              </div>
              <div>
                <div className="text-muted-foreground text-xs">HTTP status</div>
                {r.response_status ?? "—"}
              </div>
              <div>
                <div className="text-muted-foreground text-xs">Tokens</div>
                {num(r.prompt_tokens)} in · {num(r.completion_tokens)} out
              </div>
              <div>
                <div className="text-muted-foreground text-xs">Duration</div>
                {ms(r.duration_ms)}
              </div>
              <div>
                <div className="text-muted-foreground text-xs">Cost</div>
                {credits(r.total_cost, 6)}
              </div>
            </CardContent>
          </Card>
          {r.error && <QueryError error={new Error(r.error)} title="The request failed" />}
          <div className="grid gap-6 lg:grid-cols-2">
            <Card>
              <CardHeader>
                <CardTitle>Request</CardTitle>
              </CardHeader>
              <CardContent>
                <JsonView value={r.body} label="Request body" />
              </CardContent>
            </Card>
            <Card>
              <CardHeader>
                <CardTitle>Response</CardTitle>
              </CardHeader>
              <CardContent>{r.response_body ? <JsonView value={r.response_body} label="Response body" /> : <p className="text-muted-foreground text-sm">No response body.</p>}</CardContent>
            </Card>
          </div>
        </div>
      )}
    </>
  );
}
