/**
 * The console in a real browser (Debian's Chromium through playwright-core) against the stack
 * `npm start` runs, console built: sign-in, the overview's figures against the API, a key's
 * whole life (create in the console, use with the openai client, see the request and its cost,
 * revoke, 401), what a standard user can see, sign-out, a composite model made and edited in the
 * console and served through its alias. Every page is screenshotted in light
 * and dark (.artifacts/screenshots/) and checked with axe: no serious or critical violation.
 */
import AxeBuilder from "@axe-core/playwright";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import pg from "pg";
import type { BrowserContext, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../dev/stack.ts";
import { hashToken, newSecretToken } from "../../shared/auth/tokens.ts";
import { CONSOLE_PAGES, launchChromium, screenshot, type TestBrowser } from "../support/browser.ts";
import { createTestDatabase, type TestDatabase } from "../support/test-database.ts";

let stack: Stack;
let db: TestDatabase | undefined;
let stateDir: string;
let chromium: TestBrowser;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "tollgate-console-"));
  db = process.env.DATABASE_URL ? await createTestDatabase("console") : undefined;
  chromium = await launchChromium();
  stack = await startStack({ databaseUrl: db?.url, port: 0, stateDir, log: () => {}, wranglerOutput: "ignore", buildConsole: true });
}, 240_000);

afterAll(async () => {
  await chromium?.close();
  await stack?.stop();
  await db?.drop();
  rmSync(stateDir, { recursive: true, force: true });
});

async function admin<T>(method: string, path: string, body?: unknown, token = stack.adminToken): Promise<T> {
  const res = await fetch(`${stack.gatewayUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Each page's requests not yet answered, named when a page never settles. */
const inFlight = new WeakMap<Page, Set<Request>>();

async function newPage(theme: "light" | "dark" = "light"): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await chromium.browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: theme, baseURL: stack.gatewayUrl });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const open = new Set<Request>();
  inFlight.set(page, open);
  page.on("request", (r) => open.add(r));
  page.on("requestfinished", (r) => open.delete(r));
  page.on("requestfailed", (r) => open.delete(r));
  return { context, page, errors };
}

async function signInWithToken(page: Page, token: string, at = "/"): Promise<void> {
  // The sign-in form needs the document, not every resource's load event; once (CI on a loaded
  // machine, embedded Postgres) "load" took longer than 30 s, cause not established.
  await page.goto(at, { waitUntil: "domcontentloaded", timeout: 90_000 });
  await signInHere(page, token);
}

/** Signs in on the sign-in form the current page shows, staying at this address. */
async function signInHere(page: Page, token: string): Promise<void> {
  await page.getByRole("tab", { name: "Token" }).click();
  await page.getByLabel("Admin token or platform key").fill(token);
  await page.getByRole("button", { name: "Sign in with token" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

/** In-app navigation (keeps the in-memory state a reload would drop). */
async function go(page: Page, link: string): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link }).click();
}

/**
 * Waits until the page shows no loading placeholder; if one stays, says which page, which
 * placeholder and which requests are still out. The wait is long because a loaded CI machine can
 * make the gateway's database reads time out (2 s to connect, 3 s per query), and the console
 * tries a failed read three times before it shows the error: a query can then stay pending for
 * over 30 s. One CI run timed out here at 30 s without saying on which page; this is the likely
 * cause, not a measured one.
 */
async function settled(page: Page, name: string): Promise<void> {
  const loading = () => page.locator('[role="status"][aria-label^="Loading"]').evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
  try {
    await page.waitForFunction(() => document.querySelectorAll('[role="status"][aria-label^="Loading"]').length === 0, undefined, { timeout: 90_000 });
  } catch (err) {
    const open = [...(inFlight.get(page) ?? [])].map((r) => `${r.method()} ${new URL(r.url()).pathname}`);
    throw new Error(`${name}: still loading after 90 s: ${JSON.stringify(await loading())}; requests unanswered: ${JSON.stringify(open)}`, { cause: err });
  }
}

async function expectAccessible(page: Page, name: string): Promise<void> {
  // Scalar's own rendering of the API reference (.scalar-app) is third-party markup, not ours.
  const { violations } = await new AxeBuilder({ page }).exclude(".scalar-app").analyze();
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious.map((v) => `${name}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

const gatewayAi = () => `${stack.gatewayUrl}/ai/v1`;

describe("the console in Chromium", () => {
  it("signs in with the admin token; the overview's totals are the aggregate API's", async () => {
    // One request so the totals are not all zero.
    const openai = new OpenAI({ baseURL: gatewayAi(), apiKey: stack.demoKey, maxRetries: 0 });
    await openai.chat.completions.create({ model: stack.modelAlias, messages: [{ role: "user", content: "Hello" }] });
    const { context, page, errors } = await newPage();
    await page.goto("/");
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await screenshot(page, "sign-in");
    await expectAccessible(page, "sign-in");

    // Wait until the consumer has written the request, so page and API see the same rows.
    for (let i = 0; i < 100; i++) {
      const agg = await admin<{ totals: { requests: number } }>("GET", "/admin/api/v1/requests/aggregate");
      if (agg.totals.requests >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const aggregate = page.waitForResponse((r) => r.url().includes("/admin/api/v1/requests/aggregate"));
    await signInWithToken(page, stack.adminToken);
    const asked = new URL((await aggregate).url());
    const api = await admin<{ totals: { requests: number; prompt_tokens: number; completion_tokens: number; total_cost: string } }>("GET", asked.pathname + asked.search);
    expect(api.totals.requests).toBeGreaterThanOrEqual(1);
    const stat = (name: string) => page.locator(`[data-stat="${name}"]`);
    await expect.poll(() => stat("requests").textContent()).toBe(api.totals.requests.toLocaleString("en-US"));
    expect(await stat("tokens").textContent()).toBe((api.totals.prompt_tokens + api.totals.completion_tokens).toLocaleString("en-US"));
    // Spend shows the API's decimal in credits (not a currency), trimmed to significant digits
    // (never a float round-trip).
    const spendText = (await stat("spend").textContent())!;
    expect(spendText).toMatch(/^[\d,.]+ credits$/);
    const spend = spendText.replace(/,| credits$/g, "");
    expect(Number(api.totals.total_cost) - Number(spend)).toBeCloseTo(0, 6);
    // The ADMIN_TOKEN's system user holds no credits: the overview shows every account's together.
    const users = await admin<{ data: { balance: string }[] }>("GET", "/admin/api/v1/users?limit=500");
    const held = users.data.reduce((sum, u) => sum + Number(u.balance), 0);
    expect(held).toBeGreaterThan(0);
    expect(await page.locator("#balance-label").textContent()).toBe("Credits held");
    await expect.poll(async () => Number((await stat("balance").textContent())!.replace(/,| credits$/g, ""))).toBeCloseTo(held, 2);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("creates a key, which works with the openai client, shows its request with the cost, and is refused once revoked", async () => {
    const { context, page, errors } = await newPage();
    await signInWithToken(page, stack.adminToken);
    await go(page, "API keys");
    await page.getByLabel("Whose keys").selectOption({ label: "demo" });
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create an API key" });
    await dialog.getByLabel("Name").fill("browser test key");
    await dialog.getByLabel("Purpose").selectOption("realtime");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const secret = await page.getByLabel("New API key secret").inputValue();
    expect(secret).toMatch(/^tg-/);
    await page.getByRole("button", { name: "Done" }).click();
    await expect.poll(() => page.getByRole("cell", { name: "browser test key", exact: true }).count()).toBe(1);

    const openai = new OpenAI({ baseURL: gatewayAi(), apiKey: secret, maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: stack.modelAlias, messages: [{ role: "user", content: "Hello from the console test" }] });
    expect(completion.choices[0]?.message.content).toBeTruthy();

    // The request, in the log, under the new key, with its cost as the API reports it.
    const keys = await admin<{ data: { id: string; name: string; key_prefix: string }[] }>("GET", `/admin/api/v1/users/${stack.demoUserId}/api-keys`);
    const keyId = keys.data.find((k) => k.name === "browser test key")!.id;
    let row: { id: string; total_cost: string | null } | undefined;
    for (let i = 0; i < 100 && !row; i++) {
      row = (await admin<{ data: { id: string; total_cost: string | null }[] }>("GET", `/admin/api/v1/requests?api_key_id=${keyId}`)).data[0];
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    expect(row?.total_cost).toBeTruthy();
    const prefix = keys.data.find((k) => k.id === keyId)!.key_prefix;
    await go(page, "Requests");
    await page.getByLabel("User").selectOption({ label: "demo" });
    await page.getByRole("combobox", { name: "API key", exact: true }).selectOption({ label: `browser test key (${prefix}…)` }, { timeout: 5000 });
    const table = page.getByRole("table", { name: "Requests" });
    await table.waitFor();
    await expect.poll(() => table.getByRole("row").count()).toBe(2);
    const cost = await table.locator("[data-cost]").first().textContent();
    expect(cost).not.toContain("$");
    expect(Number(cost!.replace(/,/g, ""))).toBeCloseTo(Number(row!.total_cost), 9);
    await screenshot(page, "requests");

    await table.getByRole("link").first().click();
    await page.getByRole("heading", { name: `Request ${row!.id}` }).waitFor();
    await page.getByRole("heading", { name: "Cost" }).waitFor();
    await screenshot(page, "request-detail");

    // Unfiltered, the row still names its key (the API sends the name with each row), though
    // the signed-in admin token owns none of the keys on the page.
    await go(page, "Requests");
    await page.getByLabel("User").selectOption({ label: "All users" });
    await expect.poll(() => page.getByRole("table", { name: "Requests" }).getByRole("cell", { name: "browser test key", exact: true }).count()).toBeGreaterThan(0);

    await go(page, "API keys");
    await page.getByLabel("Whose keys").selectOption({ label: "demo" });
    await page.getByRole("button", { name: "Revoke browser test key" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => page.getByRole("cell", { name: "browser test key", exact: true }).count()).toBe(0);
    let status = 0;
    for (let i = 0; i < 60; i++) {
      status = await openai.chat.completions
        .create({ model: stack.modelAlias, messages: [{ role: "user", content: "again" }] })
        .then(() => 200, (e: unknown) => (e instanceof OpenAI.APIError ? (e.status ?? 0) : 0));
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(401);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("sets a password from a set-password link, then signs in with email and password", async () => {
    const bob = await admin<{ id: string }>("POST", "/admin/api/v1/users", { username: "bob", email: "bob@example.com", display_name: "Bob Builder" });
    // The link a manager hands out: from the API where the gateway has it, else made as the API
    // makes it (a random token, stored only as its SHA-256).
    let url: string;
    try {
      url = (await admin<{ url: string }>("POST", `/admin/api/v1/users/${bob.id}/password-link`)).url;
    } catch {
      const token = newSecretToken();
      const client = new pg.Client({ connectionString: stack.databaseUrl });
      await client.connect();
      const system = await admin<{ id: string }>("GET", "/admin/api/v1/users/current");
      await client.query("INSERT INTO password_tokens (token_hash, user_id, created_by, expires_at) VALUES ($1, $2, $3, now() + interval '1 day')", [await hashToken(token), bob.id, system.id]);
      await client.end();
      url = `/set-password?token=${token}`;
    }
    const { context, page, errors } = await newPage();
    await page.goto(url);
    await page.getByRole("heading", { name: "Choose your password" }).waitFor();
    await screenshot(page, "set-password");
    await expectAccessible(page, "set-password");
    const password = "correct horse battery staple";
    await page.getByLabel("New password").fill(password);
    await page.getByLabel("Repeat the password").fill(password);
    await page.getByRole("button", { name: "Set password and sign in" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    await expect.poll(() => page.getByRole("navigation", { name: "Main" }).textContent()).toContain("Overview");
    expect(await page.getByText("Bob Builder").count()).toBeGreaterThan(0);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await page.getByRole("tab", { name: "Email" }).click();
    await page.getByRole("textbox", { name: "Email" }).fill("bob@example.com");
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByText("Incorrect email or password.").waitFor();
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    // The session is a cookie: it survives a reload.
    await page.reload();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("shows a standard user only their own data, and signs out", async () => {
    const alice = await admin<{ id: string }>("POST", "/admin/api/v1/users", { username: "alice", email: "alice@example.com" });
    const key = await admin<{ key: string }>("POST", `/admin/api/v1/users/${alice.id}/api-keys`, { name: "alice console", purpose: "platform" });
    const demoRows = await admin<{ data: { id: string }[] }>("GET", `/admin/api/v1/requests?user_id=${stack.demoUserId}`);
    expect(demoRows.data.length).toBeGreaterThan(0);

    const { context, page, errors } = await newPage();
    await signInWithToken(page, key.key);
    await expect.poll(() => page.locator('[data-stat="requests"]').textContent()).toBe("0");
    await expect.poll(() => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Models" }).count()).toBe(0);
    await go(page, "Requests");
    await page.getByText("No requests match these filters.").waitFor();
    await go(page, "Billing");
    await page.getByText("No transactions yet.").waitFor();
    expect(await page.getByText("Demo credits from npm start").count()).toBe(0);
    // Another user's request, asked for by id: refused like a missing one.
    await page.goto(`/requests/${demoRows.data[0]!.id}`);
    // A cookie session survives the page load; an in-memory token (gateway without sessions) does not.
    const form = page.getByRole("tab", { name: "Token" });
    const alert = page.getByRole("alert").first();
    await Promise.race([form.waitFor(), alert.waitFor()]);
    if (await form.isVisible()) await signInHere(page, key.key);
    await alert.waitFor();
    expect(await page.getByRole("heading", { name: "Cost" }).count()).toBe(0);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await page.reload();
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it("chats in the playground: streamed through the gateway with the playground key, with tokens and cost per turn", async () => {
    // A user with credits (the demo user) signs in with a platform key; their playground key spends
    // their credits. (The ADMIN_TOKEN's built-in system user owns no keys.)
    const platform = await admin<{ key: string }>("POST", `/admin/api/v1/users/${stack.demoUserId}/api-keys`, { name: "demo console", purpose: "platform" });
    const { context, page, errors } = await newPage();
    await signInWithToken(page, platform.key);
    await go(page, "Playground");
    await expect.poll(() => page.getByRole("combobox", { name: "Model", exact: true }).inputValue()).toBe(stack.modelAlias);
    await page.getByLabel("Message").fill("Hello");
    await page.getByRole("button", { name: "Send" }).click();
    const conversation = page.getByRole("log", { name: "Conversation" });
    await conversation.getByText("Hello word1 word2").waitFor();
    const usage = conversation.locator("[data-turn-usage]");
    await expect.poll(() => usage.textContent(), { timeout: 15_000 }).toMatch(/cost [\d.]+ credits/);
    // The turn's cost is the usage log's, for a request made with the playground key.
    const rows = await admin<{ data: { api_key_id: string | null; total_cost: string | null; request_origin: string }[] }>("GET", `/admin/api/v1/requests?limit=1&user_id=${stack.demoUserId}`);
    const cost = (await usage.textContent())!.match(/cost ([\d.]+) credits/)![1]!;
    expect(Number(cost)).toBeCloseTo(Number(rows.data[0]!.total_cost), 9);
    await screenshot(page, "playground-turn");
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("a billing manager lists users (read only) and grants credits to one", async () => {
    const carol = await admin<{ id: string }>("POST", "/admin/api/v1/users", { username: "carol", email: "carol@example.com", roles: ["billing_manager"] });
    const key = await admin<{ key: string }>("POST", `/admin/api/v1/users/${carol.id}/api-keys`, { name: "carol console", purpose: "platform" });
    const before = (await admin<{ balance: string }>("GET", `/admin/api/v1/users/${stack.demoUserId}`)).balance;
    const { context, page, errors } = await newPage();
    await signInWithToken(page, key.key);
    await go(page, "Billing");
    await page.getByLabel("Account").selectOption(stack.demoUserId);
    await page.getByLabel("Amount (credits)").fill("5");
    await page.getByLabel("Description").fill("from the billing manager");
    await page.getByRole("button", { name: "Grant credits" }).click();
    await page.getByRole("status").filter({ hasText: "Granted 5.00 credits." }).waitFor();
    expect(Number((await admin<{ balance: string }>("GET", `/admin/api/v1/users/${stack.demoUserId}`)).balance)).toBeCloseTo(Number(before) + 5, 9);
    // Users & orgs: the list, without the actions only platform managers may take.
    await go(page, "Users & orgs");
    const users = page.getByRole("table", { name: "Users" });
    await users.getByRole("cell", { name: /demo/ }).first().waitFor();
    expect(await page.getByRole("button", { name: "Add user" }).count()).toBe(0);
    expect(await users.getByRole("button").count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("invites by link: the manager makes the link, the invitee sets a password, signs in on the link and joins", async () => {
    // An organization owned by the demo user; the manager (ADMIN_TOKEN) may invite to any.
    const platform = await admin<{ key: string }>("POST", `/admin/api/v1/users/${stack.demoUserId}/api-keys`, { name: "demo org owner", purpose: "platform" });
    const org = await admin<{ id: string }>("POST", "/admin/api/v1/organizations", { name: "acme", email: "billing@acme.example" }, platform.key);

    const manager = await newPage();
    await signInWithToken(manager.page, stack.adminToken);
    await go(manager.page, "Users & orgs");
    // The invitee's account, and their set-password link.
    await manager.page.getByRole("button", { name: "Add user" }).click();
    const add = manager.page.getByRole("dialog", { name: "Add a user" });
    await add.getByLabel("Username").fill("dave");
    await add.getByLabel("Email").fill("dave@example.com");
    await add.getByLabel("Display name").fill("Dave Invitee");
    await add.getByRole("button", { name: "Add user" }).click();
    await manager.page.getByRole("button", { name: "Password link for dave" }).click();
    const passwordUrl = await manager.page.getByRole("dialog", { name: "Set-password link" }).getByRole("textbox", { name: "Link" }).inputValue();
    await manager.page.getByRole("button", { name: "Done" }).click();
    // The invitation link, from the organization's page.
    await manager.page.getByRole("tab", { name: "Organizations" }).click();
    await manager.page.getByRole("list", { name: "Organizations" }).getByRole("button", { name: /acme/ }).click();
    await manager.page.getByLabel("Invite by link as").selectOption("member");
    await manager.page.getByRole("button", { name: "Create invitation link" }).click();
    const inviteUrl = await manager.page.getByRole("dialog", { name: "Invitation link" }).getByRole("textbox", { name: "Link" }).inputValue();
    expect(inviteUrl).toMatch(/\/invite\?token=/);
    await screenshot(manager.page, "invitation-link", false);
    await manager.page.getByRole("button", { name: "Done" }).click();
    expect(manager.errors).toEqual([]);
    await manager.context.close();

    const { context, page, errors } = await newPage();
    await page.goto(passwordUrl);
    const password = "dave's long enough password";
    await page.getByLabel("New password").fill(password);
    await page.getByLabel("Repeat the password").fill(password);
    await page.getByRole("button", { name: "Set password and sign in" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    // The invitation link asks for a sign-in first and keeps its address through it.
    await page.goto(inviteUrl);
    await page.getByRole("tab", { name: "Email" }).click();
    await page.getByRole("textbox", { name: "Email" }).fill("dave@example.com");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { name: "Join acme" }).waitFor();
    await screenshot(page, "invite");
    await expectAccessible(page, "invite");
    await page.getByRole("button", { name: "Accept and join" }).click();
    await page.getByRole("heading", { name: "Users, organizations and groups", level: 1 }).waitFor();
    const members = await admin<{ data: { username: string; role: string }[] }>("GET", `/admin/api/v1/organizations/${org.id}/members`);
    expect(members.data).toContainEqual(expect.objectContaining({ username: "dave", role: "member" }));
    // Now acting for the organization they joined.
    await expect.poll(() => page.getByLabel("Organization", { exact: true }).inputValue()).toBe(org.id);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("a group's detail: members and granted models are added and removed", async () => {
    const { context, page, errors } = await newPage();
    await signInWithToken(page, stack.adminToken);
    await go(page, "Users & orgs");
    await page.getByRole("tab", { name: "Groups" }).click();
    await page.getByLabel("New group name").fill("testers");
    await page.getByRole("button", { name: "Create", exact: true }).click();
    await page.getByRole("heading", { name: "Members" }).waitFor();
    const group = (await admin<{ data: { id: string; name: string }[] }>("GET", "/admin/api/v1/groups?limit=500")).data.find((g) => g.name === "testers")!;

    await page.getByLabel("User to add").selectOption({ label: "demo" });
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.getByRole("button", { name: "Remove demo from the group" }).waitFor();
    await page.getByLabel("Model to grant").selectOption({ label: stack.modelAlias });
    await page.getByRole("button", { name: "Grant", exact: true }).click();
    await page.getByRole("button", { name: `Withdraw ${stack.modelAlias} from the group` }).waitFor();
    await screenshot(page, "group-detail");
    await expectAccessible(page, "group detail");
    expect((await admin<{ data: { username: string }[] }>("GET", `/admin/api/v1/groups/${group.id}/users`)).data.map((u) => u.username)).toEqual(["demo"]);
    expect((await admin<{ data: { alias: string }[] }>("GET", `/admin/api/v1/groups/${group.id}/models`)).data.map((m) => m.alias)).toEqual([stack.modelAlias]);

    await page.getByRole("button", { name: "Remove demo from the group" }).click();
    await page.getByRole("button", { name: `Withdraw ${stack.modelAlias} from the group` }).click();
    await expect.poll(() => page.getByRole("button", { name: /from the group$/ }).count()).toBe(0);
    expect((await admin<{ data: unknown[] }>("GET", `/admin/api/v1/groups/${group.id}/users`)).data).toEqual([]);
    expect((await admin<{ data: unknown[] }>("GET", `/admin/api/v1/groups/${group.id}/models`)).data).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("an endpoint's connection is tested and the endpoint edited", async () => {
    const { context, page, errors } = await newPage();
    await signInWithToken(page, stack.adminToken);
    await go(page, "Models");
    await page.getByRole("tab", { name: "Endpoints" }).click();
    const table = page.getByRole("table", { name: "Endpoints" });
    const name = (await table.getByRole("row").nth(1).getByRole("cell").first().textContent())!;
    await table.getByRole("button", { name: `Test connection to ${name}` }).click();
    await table.getByRole("status").filter({ hasText: /^OK in/ }).waitFor();
    await table.getByRole("button", { name: `Edit ${name}` }).click();
    const dialog = page.getByRole("dialog", { name: `Edit ${name}` });
    await dialog.getByLabel("Endpoint name").fill(`${name}-renamed`);
    await dialog.getByRole("button", { name: "Save endpoint" }).click();
    await table.getByRole("cell", { name: `${name}-renamed`, exact: true }).waitFor();
    const endpoints = await admin<{ data: { name: string }[] }>("GET", "/admin/api/v1/endpoints");
    expect(endpoints.data.map((e) => e.name)).toContain(`${name}-renamed`);
    // An endpoint that hosts a model cannot go: the refusal says why, in the dialog.
    await table.getByRole("button", { name: `Delete ${name}-renamed` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete endpoint" }).click();
    await page.getByRole("dialog").getByRole("alert").waitFor();
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("creates a composite over two models in the console, weighted; the openai client is served through its alias and the API has what the UI set", async () => {
    type ModelRow = { id: string; alias: string; hosted_on: string | null; is_composite: boolean; lb_strategy: string; fallback_enabled: boolean; fallback_max_attempts: number; fallback_on_status: number[]; capacity: number | null };
    const models = async () => (await admin<{ data: ModelRow[] }>("GET", "/admin/api/v1/models?limit=500")).data;
    const demo = (await models()).find((m) => m.alias === stack.modelAlias)!;
    // A second ordinary model on the same upstream.
    await admin("POST", "/admin/api/v1/models", { alias: "console-second", model_name: "mock-gpt", hosted_on: demo.hosted_on, open_to_everyone: true });
    const { context, page, errors } = await newPage();
    await signInWithToken(page, stack.adminToken);
    await go(page, "Models");
    await page.getByRole("button", { name: "New composite model" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Alias", { exact: true }).fill("console-pool");
    await dialog.getByLabel("Strategy", { exact: true }).selectOption({ label: "Weighted at random" });
    await dialog.getByLabel("Max attempts", { exact: true }).fill("2");
    await dialog.getByLabel("Fall back on statuses", { exact: true }).fill("500, 502, 503");
    await dialog.getByLabel("Capacity", { exact: true }).fill("20");
    await dialog.getByRole("button", { name: "Create composite" }).click();
    // Created: the dialog stays open on the new composite for its components.
    await page.getByRole("dialog", { name: "Composite console-pool" }).waitFor();
    const add = dialog.getByLabel("Model to add", { exact: true });
    await add.selectOption({ label: stack.modelAlias });
    await dialog.getByRole("button", { name: "Add component" }).click();
    await add.selectOption({ label: "console-second" });
    await dialog.getByRole("button", { name: "Add component" }).click();
    await dialog.getByLabel(`Weight of ${stack.modelAlias}`, { exact: true }).fill("70");
    await dialog.getByLabel("Weight of console-second", { exact: true }).fill("30");
    await dialog.getByRole("button", { name: "Save components" }).click();
    await dialog.getByRole("status").filter({ hasText: "Components saved." }).waitFor();
    await screenshot(page, "composite-model");
    await expectAccessible(page, "composite model");

    const pool = (await models()).find((m) => m.alias === "console-pool")!;
    expect(pool).toMatchObject({ is_composite: true, hosted_on: null, lb_strategy: "weighted_random", fallback_enabled: true, fallback_max_attempts: 2, fallback_on_status: [500, 502, 503], capacity: 20 });
    const components = await admin<{ data: unknown[] }>("GET", `/admin/api/v1/models/${pool.id}/components`);
    expect(components.data).toEqual([
      { model_id: demo.id, alias: stack.modelAlias, weight: 70, sort_order: 0, enabled: true },
      { model_id: expect.any(String), alias: "console-second", weight: 30, sort_order: 1, enabled: true },
    ]);
    const openai = new OpenAI({ baseURL: gatewayAi(), apiKey: stack.demoKey, maxRetries: 0 });
    const answer = await openai.chat.completions.create({ model: "console-pool", messages: [{ role: "user", content: "Hello" }] });
    expect(answer.model).toBe("console-pool");
    expect(answer.choices[0]?.message.content).toBeTruthy();

    // Edited: priority, one component off, saved through PATCH and PUT.
    await page.keyboard.press("Escape");
    await page.getByRole("table", { name: "Models" }).getByRole("button", { name: "Edit console-pool" }).click();
    await dialog.getByLabel("Strategy", { exact: true }).selectOption({ label: "By priority (order)" });
    await dialog.getByRole("button", { name: "Save routing" }).click();
    await expect.poll(async () => (await models()).find((m) => m.alias === "console-pool")?.lb_strategy).toBe("priority");
    await dialog.getByLabel("console-second enabled", { exact: true }).uncheck();
    await dialog.getByRole("button", { name: "Save components" }).click();
    await dialog.getByRole("status").filter({ hasText: "Components saved." }).waitFor();
    const after = await admin<{ data: { alias: string; enabled: boolean }[] }>("GET", `/admin/api/v1/models/${pool.id}/components`);
    expect(after.data.map((c) => [c.alias, c.enabled])).toEqual([
      [stack.modelAlias, true],
      ["console-second", false],
    ]);

    // A refusal says what went wrong and what to do.
    await page.keyboard.press("Escape");
    await page.getByRole("button", { name: "New composite model" }).click();
    await dialog.getByLabel("Alias", { exact: true }).fill("console-pool");
    await dialog.getByRole("button", { name: "Create composite" }).click();
    await dialog.getByRole("alert").filter({ hasText: "Choose another alias" }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it("every page, light and dark: rendered, screenshotted, no serious accessibility violation", async () => {
    for (const theme of ["light", "dark"] as const) {
      const { context, page, errors } = await newPage(theme);
      await signInWithToken(page, stack.adminToken);
      for (const { link, heading, name } of CONSOLE_PAGES) {
        // How fast is measured by `npm run bench:console` (a timed test would fail on a busy
        // machine and say nothing on a quiet one); here: the page renders and its data arrives.
        await go(page, link);
        await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
        await settled(page, `${name} (${theme})`);
        if (name === "reference") await page.locator(".scalar-app h1").first().waitFor();
        await page.waitForLoadState("networkidle");
        // Scalar lays the whole document out on one long page: the first screen says enough.
        await screenshot(page, name, name !== "reference");
        await expectAccessible(page, `${name} (${theme})`);
        if (name === "people") {
          // The users table fits the page at 1400 px; the built-in system user offers no actions
          // (the API refuses to edit, delete or give it a password).
          const table = page.getByRole("table", { name: "Users" });
          expect(await table.evaluate((t) => t.parentElement!.scrollWidth <= t.parentElement!.clientWidth)).toBe(true);
          expect(await table.getByRole("button", { name: "Password link for admin-token" }).count()).toBe(0);
          expect(await table.getByRole("button", { name: "Delete admin-token" }).count()).toBe(0);
          expect(await table.getByRole("button", { name: "Password link for demo" }).count()).toBe(1);
        }
        if (name === "reference" && theme === "light") {
          // The admin document is shown a section at a time; another section is one choice away.
          await page.getByLabel("Reference section").selectOption("Models");
          await page.locator(".scalar-app h2", { hasText: "Models" }).first().waitFor();
        }
      }
      expect(errors).toEqual([]);
      await context.close();
    }
  }, 360_000);
});
