/**
 * The API documentation: `/ai/openapi.json` describes every inference route and the errors each
 * can answer; `/ai/docs` and `/admin/docs` are self-contained pages (same-origin script and style,
 * a strict CSP, no data in them) — the admin document behind them still needs credentials.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { newApp } from "../../../workers/gateway/src/app.ts";

const get = (path: string, headers: Record<string, string> = {}) => SELF.fetch(`https://gateway.test${path}`, { headers });

describe("/ai/openapi.json", () => {
  it("lists every inference route with its gate errors, publicly", async () => {
    const res = await get("/ai/openapi.json");
    expect(res.status).toBe(200);
    const text = await res.text();
    type Op = { responses: Record<string, { description: string }>; requestBody?: { content: Record<string, { schema: { $ref: string } }> } };
    const doc = JSON.parse(text) as { openapi: string; paths: Record<string, Record<string, Op>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/ai/v1/batches",
      "/ai/v1/batches/{id}",
      "/ai/v1/batches/{id}/cancel",
      "/ai/v1/chat/completions",
      "/ai/v1/completions",
      "/ai/v1/embeddings",
      "/ai/v1/files",
      "/ai/v1/files/{id}",
      "/ai/v1/files/{id}/content",
      "/ai/v1/models",
      "/ai/v1/models/{model}",
      "/ai/v1/responses",
      "/ai/v1/responses/{id}",
      "/ai/v1/responses/{id}/input_items",
      "/healthz",
    ]);
    const chat = doc.paths["/ai/v1/chat/completions"]!.post!;
    expect(Object.keys(chat.responses).sort()).toEqual(["200", "400", "401", "402", "403", "404", "413", "429", "502", "503", "504"]);
    expect(chat.responses["400"]!.description).toContain("invalid_cache_control");
    expect(chat.responses["402"]!.description).toContain("insufficient_credits");
    const component = (ref: string) => doc.components.schemas[ref.replace("#/components/schemas/", "")];
    expect(component(chat.requestBody!.content["application/json"]!.schema.$ref)!.properties).toHaveProperty("cache_control");
    // Named components: every reference resolves.
    for (const [, ref] of text.matchAll(/"\$ref":"([^"]+)"/g)) expect(component(ref!), ref).toBeDefined();
  });

  it("documents exactly the routes the gateway serves under /ai/v1", async () => {
    const doc = (await (await get("/ai/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith("/ai/v1/"))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    // Hono's spelling (`:model{.+}`) in OpenAPI's (`{model}`); middleware registrations are `ALL`.
    const served = newApp()
      .routes.filter((r) => r.method !== "ALL" && r.path.startsWith("/ai/v1/"))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`);
    expect([...new Set(served)].sort()).toEqual(documented.sort());
  });
});

describe("/ai/docs and /admin/docs", () => {
  it("are self-contained pages under a strict CSP", async () => {
    for (const [path, spec] of [["/ai/docs", "/ai/openapi.json"], ["/admin/docs", "/admin/openapi.json"]]) {
      const res = await get(path!);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/html");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'; script-src 'self'");
      const html = await res.text();
      expect(html).toContain(`data-spec="${spec}"`);
      expect(html).toContain('<script src="/docs/render.js"></script>');
      expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere
      expect(html).not.toContain(env.ADMIN_TOKEN);
    }
    const script = await get("/docs/render.js");
    expect(script.headers.get("content-type")).toContain("text/javascript");
    // It parses (runs only in a browser).
    const source = await script.text();
    expect(() => new Function(source)).not.toThrow();
    expect((await get("/docs/docs.css")).headers.get("content-type")).toContain("text/css");
  });

  it("the admin page holds no data: its document still needs credentials", async () => {
    expect((await get("/admin/openapi.json")).status).toBe(401);
    expect((await get("/admin/openapi.json", { authorization: `Bearer ${env.ADMIN_TOKEN}` })).status).toBe(200);
    // The door still guards every other /admin path.
    expect((await get("/admin/api/v1/users")).status).toBe(401);
  });
});
