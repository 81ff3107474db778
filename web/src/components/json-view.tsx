/** A body as readable JSON (or text), scrollable and selectable. */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  const text = typeof value === "string" ? tryPretty(value) : JSON.stringify(value, null, 2);
  return (
    <pre aria-label={label} tabIndex={0} className="bg-muted max-h-96 overflow-auto rounded-md p-3 font-mono text-xs leading-relaxed whitespace-pre-wrap">
      {text}
    </pre>
  );
}

function tryPretty(s: string): string {
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}
