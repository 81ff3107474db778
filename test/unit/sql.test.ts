import { describe, expect, it } from "vitest";
import { insertHttpAnalytics } from "../../shared/sql/http-analytics.ts";
import { arrayLiteral, unnestInsert } from "../../shared/sql/unnest-insert.ts";
import { sampleMessage } from "../support/samples.ts";

describe("unnestInsert", () => {
  it("uses one array parameter per column whatever the row count", () => {
    const rows = [{ a: 1, b: "x" }, { a: 2, b: null }];
    const q = unnestInsert("t", [["a", "int", (r: (typeof rows)[number]) => r.a], ["b", "text", (r) => r.b]], rows, "RETURNING a");
    expect(q.text).toBe("INSERT INTO t (a, b) SELECT unnest($1::int[]), unnest($2::text[]) RETURNING a");
    expect(q.values).toEqual([[1, 2], ["x", null]]);
  });
});

describe("arrayLiteral", () => {
  it("quotes every string and escapes only backslash and double quote", () => {
    expect(arrayLiteral(["a\"b", "c\\d", "", "NULL", " {x,y} ", null, undefined, 3, -1.5, true, false])).toBe(
      '{"a\\"b","c\\\\d","","NULL"," {x,y} ",NULL,NULL,3,-1.5,t,f}',
    );
    expect(arrayLiteral([])).toBe("{}");
    expect(() => arrayLiteral([{}])).toThrow(TypeError);
  });
});

describe("insertHttpAnalytics", () => {
  it("is idempotent on event_id and never writes a key id without an owner", () => {
    const msg = sampleMessage();
    const q = insertHttpAnalytics([
      { message: msg, userId: null, providerName: null, inputPricePerToken: null, outputPricePerToken: null, totalCost: null, uncachedCost: null, requestOrigin: "api" },
    ]);
    expect(q.text).toMatch(/ON CONFLICT \(event_id\) DO NOTHING RETURNING event_id$/);
    const columns = q.text.slice(q.text.indexOf("(") + 1, q.text.indexOf(")")).split(", ");
    const value = (name: string) => q.values[columns.indexOf(name)]?.[0];
    expect(value("event_id")).toBe(msg.event_id);
    // An api_key_id that resolves to no user is recorded as an unknown key, not attributed.
    expect(value("api_key_id")).toBeNull();
    expect(value("access_source")).toBe("unknown_api_key");
  });
});
