import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { MemoRouter } from "../../workers/gateway/src/memo-router.ts";

/** The same routes on Hono's default router and on the memoizing one, answering the same requests. */
function apps() {
  const build = (app: Hono) => {
    app.use("/ai/*", async (c, next) => {
      await next();
      c.res.headers.set("x-mw", "ai");
    });
    app.get("/ai/v1/models", (c) => c.json({ route: "list" }));
    app.get("/ai/v1/models/:model{.+}", (c) => c.json({ route: "model", model: c.req.param("model") }));
    app.get("/ai/v1/responses/:id", (c) => c.json({ route: "response", id: c.req.param("id") }));
    app.get("/ai/v1/responses/:id/input_items", (c) => c.json({ route: "items", id: c.req.param("id") }));
    app.post("/ai/v1/chat/completions", (c) => c.json({ route: "chat" }));
    const admin = new Hono();
    admin.get("/users/:id", (c) => c.json({ route: "user", id: c.req.param("id") }));
    app.route("/admin", admin);
    app.notFound((c) => c.json({ route: "none" }, 404));
    return app;
  };
  return { plain: build(new Hono()), memo: build(new Hono({ router: new MemoRouter() })) };
}

describe("MemoRouter", () => {
  it("answers every request as Hono's default router does, the second time (from memory) too, parameters included", async () => {
    const { plain, memo } = apps();
    const requests: [string, string][] = [
      ["GET", "/ai/v1/models"],
      ["GET", "/ai/v1/models/org/model-a"],
      ["GET", "/ai/v1/models/org/model-b"],
      ["GET", "/ai/v1/responses/resp_1"],
      ["GET", "/ai/v1/responses/resp_2"],
      ["GET", "/ai/v1/responses/resp_1/input_items"],
      ["POST", "/ai/v1/chat/completions"],
      ["GET", "/ai/v1/chat/completions"],
      ["GET", "/admin/users/u1"],
      ["GET", "/admin/users/u2"],
      ["GET", `/ai/v1/models/${"x".repeat(300)}`],
      ["GET", "/nowhere"],
    ];
    const answer = async (app: Hono, [method, path]: [string, string]) => {
      const res = await app.request(path, { method });
      return [res.status, res.headers.get("x-mw"), await res.text()];
    };
    for (let round = 0; round < 2; round++) {
      for (const r of requests) expect(await answer(memo, r), `${r.join(" ")} (round ${round})`).toEqual(await answer(plain, r));
    }
    expect(await answer(memo, ["GET", "/ai/v1/models/org/model-a"])).toEqual([200, "ai", JSON.stringify({ route: "model", model: "org/model-a" })]);
  });

  it("stays bounded: past its size the oldest paths are forgotten, and still answered right", async () => {
    const router = new MemoRouter<string>();
    router.add("GET", "/items/:id", "item");
    const first = router.match("GET", "/items/0");
    for (let i = 1; i <= 600; i++) router.match("GET", `/items/${i}`);
    const again = router.match("GET", "/items/0");
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    expect(router.match("GET", "/items/600")).toBe(router.match("GET", "/items/600"));
  });
});
