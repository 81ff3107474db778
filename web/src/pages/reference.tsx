/**
 * The admin and inference OpenAPI documents, rendered with Scalar's API reference (from npm,
 * served from our own assets, loaded only on this page). "Try it" sends from this origin: admin
 * calls carry the session cookie and the console's CSRF and organization headers; inference
 * calls take an API key entered in Scalar's authentication panel.
 */
import { useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import * as z from "zod";
import { adminHeaders, call } from "@/api/client";
import { Loading, PageHeader, QueryError } from "@/components/page";
import { Button } from "@/components/ui/button";

const ScalarReference = lazy(() => import("@/components/scalar-reference"));

const Doc = z.record(z.string(), z.unknown());

export default function Reference() {
  const [which, setWhich] = useState<"admin" | "ai">("admin");
  const doc = useQuery({
    queryKey: ["openapi", which],
    staleTime: Infinity,
    queryFn: () => (which === "admin" ? call("GET", "/admin/openapi.json", (v) => Doc.parse(v)) : fetch("/ai/openapi.json").then(async (r) => Doc.parse(await r.json()))),
  });
  return (
    <>
      <PageHeader
        title="API reference"
        description="Every operation of the gateway, with a working “Try it” against this gateway."
        actions={
          <div role="group" aria-label="Document" className="bg-muted inline-flex rounded-lg p-[3px]">
            {(
              [
                ["admin", "Admin API"],
                ["ai", "Inference API"],
              ] as const
            ).map(([value, label]) => (
              <Button key={value} size="sm" variant={which === value ? "outline" : "ghost"} aria-pressed={which === value} onClick={() => setWhich(value)}>
                {label}
              </Button>
            ))}
          </div>
        }
      />
      {doc.error && <QueryError error={doc.error} />}
      {doc.isPending ? (
        <Loading rows={8} label="Loading the API reference" />
      ) : (
        doc.data && (
          <Suspense fallback={<Loading rows={8} label="Loading the API reference" />}>
            <div className="overflow-hidden rounded-xl border">
              <ScalarReference key={which} document={doc.data} headers={which === "admin" ? adminHeaders : () => ({})} />
            </div>
          </Suspense>
        )
      )}
    </>
  );
}
