import { describe, expect, it } from "vitest";
import { aggregateRequestsSql, analyticsWhere, countRequestsSql, listRequestsSql } from "../../shared/sql/analytics-query.ts";

describe("analytics queries", () => {
  it("every filter is a bound parameter, numbered from where the caller says", () => {
    const where = analyticsWhere(
      { userId: "u", apiKeyId: "k", model: "m'; DROP TABLE users; --", statusCode: 200, createdAfter: "2026-01-01T00:00:00Z", createdBefore: "2026-01-02T00:00:00Z" },
      2,
    );
    expect(where.text).toBe(
      'WHERE user_id = $2 AND api_key_id = $3 AND model = $4 AND status_code = $5 AND "timestamp" >= $6::timestamptz AND "timestamp" < $7::timestamptz',
    );
    expect(where.params).toEqual(["u", "k", "m'; DROP TABLE users; --", 200, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]);
    expect(analyticsWhere({})).toEqual({ text: "", params: [] });
  });

  it("the list pages after the filters, newest first, ties broken by the numeric id", () => {
    const list = listRequestsSql({ userId: "u" }, 100, 200);
    expect(list.params).toEqual(["u", 100, 200]);
    expect(list.text).toMatch(/WHERE user_id = \$1 ORDER BY http_analytics\."timestamp" DESC, http_analytics\.id DESC LIMIT \$2 OFFSET \$3$/);
    expect(countRequestsSql({ userId: "u" })).toEqual({ text: "SELECT count(*)::float8 AS n FROM http_analytics WHERE user_id = $1", params: ["u"] });
  });

  it("the aggregate binds the bucket as $1 and groups by a fixed column, never by input", () => {
    const byUser = aggregateRequestsSql({ model: "m" }, "hour", "user");
    expect(byUser.params).toEqual(["hour", "m"]);
    expect(byUser.text).toContain("date_trunc($1, \"timestamp\", 'UTC')");
    expect(byUser.text).toContain("user_id::text AS key");
    expect(byUser.text).toContain("WHERE model = $2");
    expect(aggregateRequestsSql({}, "day", "model").text).toContain("model AS key");
  });
});
