/**
 * `/ai/docs` and `/admin/docs`: the OpenAPI documents rendered as a page, with nothing loaded from
 * anywhere but this gateway (no CDN: the page works offline and under a strict CSP). The page
 * holds no data; the admin page asks for a token and fetches `/admin/openapi.json` with it, keeping
 * the token only in the page's memory.
 */
import type { Context } from "hono";

/** Renders an OpenAPI 3.1 document: operations grouped by tag, with parameters, bodies and responses. */
const RENDER_JS = String.raw`
const root = document.getElementById("doc");
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
};
const pretty = (value) => el("pre", {}, JSON.stringify(value, null, 2));

function render(doc) {
  root.replaceChildren(el("h1", {}, doc.info.title), el("p", {}, doc.info.description || ""));
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([method, path, op]);
    }
  }
  for (const [tag, ops] of byTag) {
    root.append(el("h2", {}, tag));
    for (const [method, path, op] of ops) {
      const details = el("details", { class: "op" });
      details.append(el("summary", {}, el("span", { class: "method " + method }, method.toUpperCase()), " ", el("code", {}, path), " — " + (op.summary || "")));
      if (op.description) details.append(el("p", {}, op.description));
      if (op.parameters && op.parameters.length) {
        const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "required"), el("th", {}, "schema")));
        for (const p of op.parameters) table.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, p.required ? "yes" : "no"), el("td", {}, pretty(p.schema))));
        details.append(el("h4", {}, "Parameters"), table);
      }
      if (op.requestBody) {
        for (const [type, media] of Object.entries(op.requestBody.content)) details.append(el("h4", {}, "Request body (" + type + ")"), pretty(media.schema));
      }
      details.append(el("h4", {}, "Responses"));
      for (const [status, res] of Object.entries(op.responses || {})) {
        details.append(el("p", {}, el("strong", {}, status), " " + (res.description || "")));
        for (const [type, media] of Object.entries(res.content || {})) {
          const schema = media.schema && media.schema.$ref ? { $ref: media.schema.$ref } : media.schema;
          details.append(el("div", { class: "media" }, type), pretty(schema));
        }
      }
      root.append(details);
    }
  }
  if (doc.components && doc.components.schemas) {
    root.append(el("h2", {}, "Schemas"));
    for (const [name, schema] of Object.entries(doc.components.schemas)) root.append(el("h3", {}, name), pretty(schema));
  }
}

async function load(token) {
  const headers = token ? { authorization: "Bearer " + token } : {};
  const res = await fetch(document.body.dataset.spec, { headers });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    root.replaceChildren(el("p", { class: "error" }, (body && body.error && body.error.message) || "Could not load the document (" + res.status + ")."));
    return;
  }
  render(await res.json());
}

const form = document.getElementById("auth");
if (form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load(new FormData(form).get("token"));
  });
} else {
  load(null);
}
`;

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
pre { background: #f5f5f7; padding: .6rem; overflow-x: auto; font-size: 13px; }
details.op { border: 1px solid #ddd; border-radius: 6px; margin: .4rem 0; padding: .4rem .8rem; }
summary { cursor: pointer; }
.method { display: inline-block; min-width: 4rem; font-weight: 600; font-family: monospace; }
.get { color: #0a7; } .post { color: #06c; } .put, .patch { color: #b70; } .delete { color: #c22; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .2rem .5rem; vertical-align: top; text-align: left; }
.error { color: #c22; } .media { font-family: monospace; color: #666; }
`;

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);

function page(title: string, specUrl: string, askForToken: boolean): string {
  const auth = askForToken
    ? `<form id="auth"><label>Admin token or platform key <input name="token" type="password" autocomplete="off" required></label> <button>Show the API</button></form>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="stylesheet" href="/docs/docs.css"></head>
<body data-spec="${escapeHtml(specUrl)}">${auth}<main id="doc"><p>${askForToken ? "The admin API's document needs credentials." : "Loading…"}</p></main>
<script src="/docs/render.js"></script></body></html>`;
}

// Same-origin assets only; nothing inline, so the strictest policy holds.
const HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "public, max-age=300",
};

export const aiDocsPage = (c: Context) => c.html(page("Tollgate inference API", "/ai/openapi.json", false), 200, HEADERS);
export const adminDocsPage = (c: Context) => c.html(page("Tollgate admin API", "/admin/openapi.json", true), 200, HEADERS);
export const docsScript = (c: Context) => c.body(RENDER_JS, 200, { ...HEADERS, "content-type": "text/javascript; charset=utf-8" });
export const docsStyle = (c: Context) => c.body(STYLE, 200, { ...HEADERS, "content-type": "text/css; charset=utf-8" });
