/**
 * Builds a multi-row INSERT as `INSERT … SELECT unnest($1::type[]), unnest($2::type[]), …`: one
 * statement and a fixed number of parameters whatever the batch size (the reference's write
 * pattern). The arrays are unnested in the select list rather than as `FROM UNNEST($1, $2, …)`:
 * both yield the rows in array order, zipped, but the FROM form first copies every array into a
 * tuplestore of its own (measurably slower for wide rows), the select-list form streams them.
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

/** `unnest($first::type[]) AS name, …` for the columns, parameters numbered from `first`. */
export function unnestSelectList(columns: readonly (readonly [name: string, pgType: string, ...rest: unknown[]])[], first = 1, named = false): string {
  return columns.map(([name, type], i) => `unnest($${first + i}::${type}[])${named ? ` AS ${name}` : ""}`).join(", ");
}

/** One array per column, in column order: the parameters an unnest INSERT takes. */
export function unnestValues<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): unknown[][] {
  return columns.map(([, , value]) => rows.map(value));
}

export function unnestInsert<Row>(table: string, columns: readonly Column<Row>[], rows: readonly Row[], tail = ""): Query {
  const names = columns.map(([name]) => name).join(", ");
  return {
    text: `INSERT INTO ${table} (${names}) SELECT ${unnestSelectList(columns)} ${tail}`.trim(),
    values: unnestValues(columns, rows),
  };
}

const ARRAY_ESCAPE = /[\\"]/g;

/**
 * One column's values as a Postgres array literal, the text node-postgres would send for the
 * array — but built in one pass: pg's generic encoder type-checks, quotes and regex-escapes every
 * element (a third of the write path's JavaScript time for a 100-row batch). Strings are always
 * quoted, so the literal's meaning never depends on an element's content; only the value types
 * the UNNEST builders produce are accepted.
 *
 * @example arrayLiteral(["a\"b", null, 3, true]) === '{"a\\"b",NULL,3,t}'
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = "{";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ",";
    const v = values[i];
    if (v === null || v === undefined) out += "NULL";
    else if (typeof v === "string") out += `"${v.includes("\\") || v.includes('"') ? v.replace(ARRAY_ESCAPE, "\\$&") : v}"`;
    else if (typeof v === "number") out += String(v);
    else if (typeof v === "boolean") out += v ? "t" : "f";
    else throw new TypeError(`arrayLiteral: unsupported element type ${typeof v}`);
  }
  return `${out}}`;
}
