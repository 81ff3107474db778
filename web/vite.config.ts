/**
 * The console's build: `npm run web:build` writes web/dist, which the gateway serves with Workers
 * Static Assets (wrangler.toml `[assets]`). `npm run web:dev` serves it with hot reload and sends
 * /admin and /ai to the gateway named by TOLLGATE_URL (default http://127.0.0.1:8787).
 */
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const gateway = process.env.TOLLGATE_URL ?? "http://127.0.0.1:8787";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [react(), tailwindcss()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: {
    outDir: "dist",
    // The budget check reads which chunks the first page loads from the manifest.
    manifest: true,
    // `npm start` and the tests rebuild while other stacks may be serving web/dist: there the folder
    // must never vanish, so old files stay (harmless); `npm run web:build` starts clean.
    emptyOutDir: process.env.TOLLGATE_WEB_KEEP_DIST !== "1",
    target: "es2022",
    // The API reference (Scalar) is one large lazy chunk; the first page stays under budget
    // (scripts/check-web-budget.ts).
    chunkSizeWarningLimit: 4000,
    reportCompressedSize: false,
  },
  server: { proxy: { "/admin": gateway, "/ai": gateway, "/healthz": gateway } },
});
