/**
 * Builds a multi-row INSERT as `INSERT … SELECT * FROM UNNEST($1::type[], …)`: one statement and a
 * fixed number of parameters whatever the batch size (the reference's write pattern).
 *
 * @example
 *   const q = unnestInsert("t", [["id", "uuid"], ["n", "int"]], rows, "ON CONFLICT (id) DO NOTHING RETURNING id");
 *   await client.query(q.text, q.values);
 */
export type Column<Row> = readonly [name: string, pgType: string, value: (row: Row) => unknown];

export interface Query {
  text: string;
  values: unknown[][];
}

export function unnestInsert<Row>(table: string, columns: readonly Column<Row>[], rows: readonly Row[], tail = ""): Query {
  const names = columns.map(([name]) => name).join(", ");
  const arrays = columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ");
  return {
    text: `INSERT INTO ${table} (${names}) SELECT * FROM UNNEST(${arrays}) ${tail}`.trim(),
    values: columns.map(([, , value]) => rows.map(value)),
  };
}
