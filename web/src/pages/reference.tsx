/**
 * The admin and inference OpenAPI documents, rendered with Scalar's API reference (from npm,
 * served from our own assets, loaded only on this page). "Try it" sends from this origin: admin
 * calls carry the session cookie and the console's CSRF and organization headers; inference
 * calls take an API key entered in Scalar's authentication panel.
 *
 * Speed: Scalar's work grows with the document (the whole admin document kept the main thread
 * busy for over half a second), so a large document is shown one section (tag) at a time, with
 * "All sections" one choice away. The documents and Scalar's code are preloaded once the app is
 * idle (router.tsx `preloadPages`).
 */
import { useQuery } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { Suspense, useMemo } from "react";
import { adminHeaders } from "@/api/client";
import { openApiQuery } from "@/api/openapi";
import { Loading, PageHeader, QueryError } from "@/components/page";
import { Button } from "@/components/ui/button";
import { NativeSelect } from "@/components/ui/native-select";
import { sectionDoc, sectionsOf } from "@/lib/openapi";

import { scalarReference } from "@/lib/preloads";

const ScalarReference = scalarReference.Component;
const routeApi = getRouteApi("/app/reference");

/** Documents with more operations than this are shown a section at a time. */
const WHOLE_UP_TO = 20;
export const ALL = "all";

export default function Reference() {
  const { doc: which, section } = routeApi.useSearch();
  const navigate = useNavigate({ from: "/reference" });
  const doc = useQuery(openApiQuery(which));
  const sections = useMemo(() => (doc.data ? sectionsOf(doc.data) : []), [doc.data]);
  const operations = sections.reduce((n, s) => n + s.operations, 0);
  const split = operations > WHOLE_UP_TO;
  // The chosen section, or the first one; "all" (or a small document) is the whole document.
  const shown = !split || section === ALL ? ALL : sections.some((s) => s.tag === section) ? section! : (sections[0]?.tag ?? ALL);
  const content = useMemo(() => (doc.data ? (shown === ALL ? doc.data : sectionDoc(doc.data, shown)) : undefined), [doc.data, shown]);
  return (
    <>
      <PageHeader
        title="API reference"
        description="Every operation of the gateway, with a working “Try it” against this gateway."
        actions={
          <>
            {split && (
              <NativeSelect aria-label="Reference section" value={shown} onChange={(e) => void navigate({ search: (s) => ({ ...s, section: e.target.value }) })}>
                {sections.map((s) => (
                  <option key={s.tag} value={s.tag}>
                    {s.tag} ({s.operations})
                  </option>
                ))}
                <option value={ALL}>All sections ({operations}, slower)</option>
              </NativeSelect>
            )}
            <div role="group" aria-label="Document" className="bg-muted inline-flex rounded-lg p-[3px]">
              {(
                [
                  ["admin", "Admin API"],
                  ["ai", "Inference API"],
                ] as const
              ).map(([value, label]) => (
                <Button key={value} size="sm" variant={which === value ? "outline" : "ghost"} aria-pressed={which === value} onClick={() => void navigate({ search: { doc: value } })}>
                  {label}
                </Button>
              ))}
            </div>
          </>
        }
      />
      {doc.error && <QueryError error={doc.error} title="The API reference did not load" />}
      {doc.isPending ? (
        <Loading rows={8} label="Loading the API reference" />
      ) : (
        content && (
          <Suspense fallback={<Loading rows={8} label="Loading the API reference" />}>
            <div className="overflow-hidden rounded-xl border">
              <ScalarReference key={`${which}/${shown}`} document={content} models={shown === ALL} headers={which === "admin" ? adminHeaders : () => ({})} />
            </div>
          </Suspense>
        )
      )}
    </>
  );
}
