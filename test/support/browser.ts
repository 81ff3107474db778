/**
 * Debian's Chromium driven by playwright-core, for the console's browser tests. No browser is
 * downloaded: `.ci/run` installs the `chromium` package when it is missing.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SCREENSHOT_DIR = join(import.meta.dirname, "..", "..", ".artifacts", "screenshots");

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The console's browser tests need Chromium at ${CHROMIUM}. Install it with: apt-get update && apt-get install -y chromium (or set CHROMIUM_PATH).`);
  }
  // launch() gives every run a fresh temporary profile (its own --user-data-dir), removed on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/** A screenshot (full page unless `fullPage: false`) into .artifacts/screenshots/<name>-<theme>.png. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const theme = (await page.evaluate(() => document.documentElement.classList.contains("dark"))) ? "dark" : "light";
  const path = join(SCREENSHOT_DIR, `${name}-${theme}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/**
 * The console's pages as a signed-in manager sees them in the main navigation: the link's name,
 * the page's level-1 heading, and a short name for screenshots and figures. The browser tests and
 * `npm run bench:console` visit the same list.
 */
export const CONSOLE_PAGES = [
  { link: "Overview", heading: "Overview", name: "overview" },
  { link: "Requests", heading: "Requests", name: "requests" },
  { link: "API keys", heading: "API keys", name: "keys" },
  { link: "Billing", heading: "Billing", name: "billing" },
  { link: "Models", heading: "Models", name: "models" },
  { link: "Users & orgs", heading: "Users, organizations and groups", name: "people" },
  { link: "Responses", heading: "Responses", name: "responses" },
  { link: "Batches", heading: "Batches", name: "batches" },
  { link: "Playground", heading: "Playground", name: "playground" },
  { link: "API reference", heading: "API reference", name: "reference" },
] as const;
