/** The gateway's two OpenAPI documents, as TanStack Query options (the API reference page, and its preload). */
import * as z from "zod";
import type { OpenApiDoc } from "@/lib/openapi";
import { call } from "./client";

const Doc = z.record(z.string(), z.unknown());

export type DocName = "admin" | "ai";

export const openApiQuery = (which: DocName) => ({
  queryKey: ["openapi", which] as const,
  staleTime: Infinity,
  queryFn: (): Promise<OpenApiDoc> =>
    which === "admin"
      ? call("GET", "/admin/openapi.json", (v) => Doc.parse(v))
      : fetch("/ai/openapi.json").then(async (r) => {
          if (!r.ok) throw new Error(`The inference API's document did not load (${r.status}); reload the page to try again.`);
          return Doc.parse(await r.json());
        }),
});
