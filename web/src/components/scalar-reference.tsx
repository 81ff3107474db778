import { ApiReferenceReact } from "@scalar/api-reference-react";
import "@scalar/api-reference-react/style.css";

/**
 * `models`: whether to list the document's schemas on their own (the whole document); one section
 * leaves them out (each operation still shows its schemas) — about a fifth less work to render.
 */
export default function ScalarReference({ document, headers, models = true }: { document: Record<string, unknown>; headers: () => Record<string, string>; models?: boolean }) {
  const dark = globalThis.document.documentElement.classList.contains("dark");
  return (
    <ApiReferenceReact
      configuration={{
        content: document,
        // Nothing from a CDN: no web fonts, no telemetry; requests go to this gateway only.
        withDefaultFonts: false,
        telemetry: false,
        // Hosted Scalar services (AI agent, MCP, SDK generation, developer tools) are off.
        agent: { disabled: true },
        mcp: { disabled: true },
        showDeveloperTools: "never",
        hideDarkModeToggle: true,
        forceDarkModeState: dark ? "dark" : "light",
        darkMode: dark,
        hideModels: !models,
        baseServerURL: location.origin,
        servers: [{ url: location.origin, description: "This gateway" }],
        onBeforeRequest: ({ request }) => {
          if (!new URL(request.url, location.origin).pathname.startsWith("/admin/")) return;
          for (const [k, v] of Object.entries(headers())) request.headers.set(k, v);
        },
      }}
    />
  );
}
