import { describe, expect, it } from "vitest";
import { InputItemsQuerySchema, pageInputItems, storedInputItems } from "../../shared/responses-input-items.ts";

const q = (query: Record<string, string> = {}) => InputItemsQuerySchema.parse(query);

describe("stored input items", () => {
  it("a string input is one user message with an input_text part and a stable id", () => {
    const items = storedInputItems("resp_abc", "hello");
    expect(items).toEqual([{ id: "msg_abc_0", type: "message", role: "user", content: [{ type: "input_text", text: "hello" }], status: "completed" }]);
    expect(storedInputItems("resp_abc", "hello")).toEqual(items);
  });

  it("easy messages get their full shape; items keep their own ids; assistant text is output_text", () => {
    const items = storedInputItems("resp_x", [
      { role: "user", content: "q" },
      { type: "message", role: "assistant", content: "a" },
      { type: "function_call", id: "fc_1", call_id: "c1", name: "f", arguments: "{}" },
      { type: "function_call_output", call_id: "c1", output: "42" },
      { role: "user", content: [{ type: "input_text", text: "more" }] },
    ]);
    expect(items.map((i) => i.id)).toEqual(["msg_x_0", "msg_x_1", "fc_1", "item_x_3", "msg_x_4"]);
    expect(items[1]).toMatchObject({ type: "message", role: "assistant", content: [{ type: "output_text", text: "a" }] });
    expect(items[3]).toEqual({ type: "function_call_output", call_id: "c1", output: "42", id: "item_x_3" });
    expect(items[4]).toMatchObject({ type: "message", content: [{ type: "input_text", text: "more" }] });
  });
});

describe("paging input items as OpenAI does", () => {
  const items = storedInputItems("resp_p", ["a", "b", "c", "d", "e"].map((t) => ({ role: "user", content: t })));
  const texts = (page: ReturnType<typeof pageInputItems>) => page.data.map((i) => ((i.content as { text: string }[])[0]!).text);

  it("newest first by default, 20 at most", () => {
    const page = pageInputItems(items, q());
    expect(texts(page)).toEqual(["e", "d", "c", "b", "a"]);
    expect(page).toMatchObject({ object: "list", first_id: "msg_p_4", last_id: "msg_p_0", has_more: false });
  });

  it("limit and after walk every item exactly once, in both orders", () => {
    for (const order of ["asc", "desc"] as const) {
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = pageInputItems(items, q({ order, limit: "2", ...(after ? { after } : {}) }));
        seen.push(...texts(page));
        if (!page.has_more) break;
        after = page.last_id!;
      }
      expect(seen).toEqual(order === "asc" ? ["a", "b", "c", "d", "e"] : ["e", "d", "c", "b", "a"]);
    }
  });

  it("an unknown after is an empty page; bad limit or order is refused", () => {
    expect(pageInputItems(items, q({ after: "msg_nope" }))).toEqual({ object: "list", data: [], first_id: null, last_id: null, has_more: false });
    for (const bad of [{ limit: "0" }, { limit: "101" }, { limit: "x" }, { order: "up" }]) expect(InputItemsQuerySchema.safeParse(bad).success).toBe(false);
  });
});
