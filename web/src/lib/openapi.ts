/**
 * Splitting an OpenAPI document into its tags, so the API reference renders one section at a time
 * (Scalar's work grows with the document: the whole admin document takes it over half a second of
 * main-thread time; a section a fraction of that).
 */
export type OpenApiDoc = Record<string, unknown>;

const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
type Operation = { tags?: unknown };
type PathItem = Record<string, unknown>;

const pathsOf = (doc: OpenApiDoc) => (doc.paths ?? {}) as Record<string, PathItem>;
const tagOf = (op: unknown): string => {
  const tags = (op as Operation | null)?.tags;
  return Array.isArray(tags) && typeof tags[0] === "string" ? tags[0] : "Other";
};

export interface Section {
  tag: string;
  operations: number;
}

/** The document's sections (each operation's first tag), in the order they first appear. */
export function sectionsOf(doc: OpenApiDoc): Section[] {
  const counts = new Map<string, number>();
  for (const item of Object.values(pathsOf(doc))) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const tag = tagOf(op);
      counts.set(tag, (counts.get(tag) ?? 0) + 1);
    }
  }
  return [...counts].map(([tag, operations]) => ({ tag, operations }));
}

/** Every `#/components/<kind>/<name>` the value refers to. */
function collectRefs(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectRefs(v, out);
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/")) out.add(v);
      else collectRefs(v, out);
    }
  }
}

/**
 * The document with only the operations of one section, and only the components they use
 * (followed transitively); info, servers, security and security schemes are kept whole.
 */
export function sectionDoc(doc: OpenApiDoc, tag: string): OpenApiDoc {
  const paths: Record<string, PathItem> = {};
  for (const [path, item] of Object.entries(pathsOf(doc))) {
    const kept: PathItem = {};
    let any = false;
    for (const [key, value] of Object.entries(item)) {
      if (!METHODS.has(key)) kept[key] = value;
      else if (tagOf(value) === tag) {
        kept[key] = value;
        any = true;
      }
    }
    if (any) paths[path] = kept;
  }
  const components = (doc.components ?? {}) as Record<string, Record<string, unknown>>;
  const used = new Set<string>();
  const pending: string[] = [];
  const add = (value: unknown) => {
    const found = new Set<string>();
    collectRefs(value, found);
    for (const ref of found) {
      if (!used.has(ref)) {
        used.add(ref);
        pending.push(ref);
      }
    }
  };
  add(paths);
  while (pending.length > 0) {
    const [, , kind, name] = pending.pop()!.split("/");
    if (kind && name) add(components[kind]?.[name]);
  }
  const kept: Record<string, Record<string, unknown>> = {};
  for (const ref of used) {
    const [, , kind, name] = ref.split("/");
    if (!kind || !name || components[kind]?.[name] === undefined) continue;
    (kept[kind] ??= {})[name] = components[kind][name];
  }
  if (components.securitySchemes) kept.securitySchemes = components.securitySchemes;
  const tags = Array.isArray(doc.tags) ? (doc.tags as { name?: string }[]).filter((t) => t.name === tag) : undefined;
  return { ...doc, paths, components: kept, ...(tags ? { tags } : {}) };
}
