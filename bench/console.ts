/**
 * `npm run bench:console` — how fast the console's pages become usable in a real browser (Debian's
 * Chromium through playwright-core) on the local stack `npm start` runs, built for production.
 * Issue #17's target: any page interactive within 1 s; the API reference (Scalar) rendered within 1 s.
 *
 * For each theme, signed in with the admin token, it visits every page by in-app navigation
 * BENCH_CONSOLE_ROUNDS times (default 3) and records two times from the click:
 *   interactive  the page's heading is rendered with its controls (its code loaded and run);
 *   complete     its data is in (no loading placeholder left; the API reference: Scalar has
 *                rendered the document's first section).
 * Prints a table per page (median / max) and a JSON line with the targets. Loopback only; stops
 * by itself. DATABASE_URL selects a Postgres server (a throwaway database on it); else embedded.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { startStack } from "../dev/stack.ts";
import { CONSOLE_PAGES, launchChromium } from "../test/support/browser.ts";
import { createTestDatabase } from "../test/support/test-database.ts";

const ROUNDS = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 3);

const stateDir = mkdtempSync(join(tmpdir(), "tollgate-bench-console-"));
const db = process.env.DATABASE_URL ? await createTestDatabase("bench_console") : undefined;
console.error("· starting the stack (console built for production) and Chromium");
const stack = await startStack({ databaseUrl: db?.url, port: 0, stateDir, log: () => {}, wranglerOutput: "ignore", buildConsole: true });
const chromium = await launchChromium();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times = new Map<string, { interactive: number[]; complete: number[] }>();

async function visit(page: Page, link: string, heading: string, name: string): Promise<void> {
  const nav = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link });
  if ((await nav.count()) === 0) return; // a page this build does not have
  const started = Date.now();
  await nav.click();
  await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
  const interactive = Date.now() - started;
  await page.waitForFunction(() => document.querySelectorAll('[role="status"][aria-label^="Loading"]').length === 0);
  if (name === "reference") await page.locator(".scalar-app h1").first().waitFor();
  const complete = Date.now() - started;
  await page.waitForLoadState("networkidle");
  const entry = times.get(name) ?? { interactive: [], complete: [] };
  entry.interactive.push(interactive);
  entry.complete.push(complete);
  times.set(name, entry);
}

try {
  for (const theme of ["light", "dark"] as const) {
    const context = await chromium.browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: theme, baseURL: stack.gatewayUrl });
    const page = await context.newPage();
    await page.goto("/");
    await page.getByRole("tab", { name: "Token" }).click();
    await page.getByLabel("Admin token or platform key").fill(stack.adminToken);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("navigation", { name: "Main" }).waitFor();
    console.error(`· ${theme}: ${ROUNDS} rounds over ${CONSOLE_PAGES.length} pages`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const { link, heading, name } of CONSOLE_PAGES) await visit(page, link, heading, name);
    }
    await context.close();
  }

  console.log(`\n${"page".padEnd(12)} ${"interactive ms (median / max)".padStart(30)} ${"complete ms (median / max)".padStart(28)}`);
  for (const [name, t] of times) {
    const cell = (xs: number[]) => `${median(xs)} / ${Math.max(...xs)}`;
    console.log(`${name.padEnd(12)} ${cell(t.interactive).padStart(30)} ${cell(t.complete).padStart(28)}`);
  }
  const all = [...times.values()].flatMap((t) => t.interactive);
  const reference = times.get("reference");
  console.log(
    JSON.stringify({
      page_interactive_median_ms: median(all),
      page_interactive_max_ms: Math.max(...all),
      slowest_page: [...times].sort((a, b) => median(b[1].interactive) - median(a[1].interactive))[0]?.[0],
      reference_rendered_median_ms: reference ? median(reference.complete) : null,
      targets: "page_interactive_median_ms ≤ 1000, every page's median interactive ≤ 1000, reference_rendered_median_ms ≤ 1000 (issue #17)",
      visits: all.length,
    }),
  );
} finally {
  await chromium.close();
  await stack.stop();
  await db?.drop();
  rmSync(stateDir, { recursive: true, force: true });
}
