/**
 * Composite models in the console: create one and edit how it routes (POST/PATCH
 * /admin/api/v1/models with the routing fields of docs/routing.md), and set its components
 * (PUT /admin/api/v1/models/{id}/components, the whole set at once).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Loader2, Plus, Trash2 } from "lucide-react";
import { useState } from "react";
import { api, ApiError, unwrap, type Schemas } from "@/api/client";
import { Field } from "@/components/field";
import { advice, Loading, QueryError } from "@/components/page";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { NativeSelect } from "@/components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";

type Model = Schemas["ModelView"];
type Strategy = Model["lb_strategy"];
type ComponentRow = { model_id: string; alias: string; weight: string; sort_order: string; enabled: boolean };

/** What to do about a refused composite or component change, from the field the API names. */
function compositeAdvice(error: unknown): string | null {
  if (error instanceof ApiError && error.param) {
    if (error.param === "alias") return "Choose another alias (letters, digits and . _ : / @ -; deleted models keep theirs).";
    if (error.param === "fallback_on_status") return "List HTTP statuses from 400 to 599, separated by commas.";
    if (error.param.startsWith("[")) return "Use ordinary models, each once, with weights from 1 to 100.";
  }
  return advice(error);
}

function FormError({ error }: { error: unknown }) {
  const hint = compositeAdvice(error);
  return (
    <p role="alert" className="text-destructive text-sm">
      {error instanceof Error ? error.message : String(error)}
      {hint && ` ${hint}`}
    </p>
  );
}

/** "429, 500 ,502" → [429, 500, 502]; a wrong entry is an error naming it (before any call). */
function parseStatuses(text: string): number[] {
  const parts = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 400 || n > 599) throw new ApiError(400, `'${p}' is not an HTTP error status.`, "invalid_request_error", "fallback_on_status");
    return n;
  });
}

function RoutingForm({ model, onSaved }: { model: Model | null; onSaved: (m: Model) => void }) {
  const qc = useQueryClient();
  const [alias, setAlias] = useState(model?.alias ?? "");
  const [strategy, setStrategy] = useState<Strategy>(model?.lb_strategy ?? "weighted_random");
  const [fallback, setFallback] = useState(model?.fallback_enabled ?? true);
  const [onRateLimit, setOnRateLimit] = useState(model?.fallback_on_rate_limit ?? true);
  const [attempts, setAttempts] = useState(String(model?.fallback_max_attempts ?? 3));
  const [statuses, setStatuses] = useState((model?.fallback_on_status ?? [429, 500, 502, 503, 504]).join(", "));
  const [capacity, setCapacity] = useState(model?.capacity?.toString() ?? "");
  const [open2all, setOpen2all] = useState(model?.open_to_everyone ?? true);
  const save = useMutation({
    mutationFn: async () => {
      const body = {
        alias: alias.trim(),
        lb_strategy: strategy,
        fallback_enabled: fallback,
        fallback_on_rate_limit: onRateLimit,
        fallback_max_attempts: Number(attempts),
        fallback_on_status: parseStatuses(statuses),
        capacity: capacity.trim() ? Number(capacity) : null,
        open_to_everyone: open2all,
      };
      return model
        ? unwrap(await api.PATCH("/admin/api/v1/models/{id}", { params: { path: { id: model.id } }, body }))
        : unwrap(await api.POST("/admin/api/v1/models", { body: { ...body, is_composite: true } }));
    },
    onSuccess: (m) => {
      void qc.invalidateQueries({ queryKey: ["models"] });
      onSaved(m);
    },
  });
  return (
    <form
      aria-label="Routing"
      className="grid gap-4"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <div className="grid grid-cols-2 gap-4">
        <Field label="Alias" hint="What clients send as the model">
          {(id, hint) => <Input id={id} required aria-describedby={hint} value={alias} onChange={(e) => setAlias(e.target.value)} placeholder="gpt-4o-pool" />}
        </Field>
        <Field label="Strategy" hint="How the first component is chosen">
          {(id, hint) => (
            <NativeSelect id={id} aria-describedby={hint} value={strategy} onChange={(e) => setStrategy(e.target.value as Strategy)}>
              <option value="weighted_random">Weighted at random</option>
              <option value="priority">By priority (order)</option>
            </NativeSelect>
          )}
        </Field>
      </div>
      <div className="flex flex-wrap gap-6 text-sm">
        <label className="flex items-center gap-2">
          <input type="checkbox" className="accent-primary size-4" checked={fallback} onChange={(e) => setFallback(e.target.checked)} />
          Fall back to another component
        </label>
        <label className="flex items-center gap-2">
          <input type="checkbox" className="accent-primary size-4" checked={onRateLimit} disabled={!fallback} onChange={(e) => setOnRateLimit(e.target.checked)} />
          Also on an upstream 429
        </label>
        <label className="flex items-center gap-2">
          <input type="checkbox" className="accent-primary size-4" checked={open2all} onChange={(e) => setOpen2all(e.target.checked)} />
          Open to everyone
        </label>
      </div>
      <div className="grid grid-cols-3 gap-4">
        <Field label="Max attempts" hint="Per request, the first included (1–10)">
          {(id, hint) => <Input id={id} type="number" min="1" max="10" required disabled={!fallback} aria-describedby={hint} value={attempts} onChange={(e) => setAttempts(e.target.value)} />}
        </Field>
        <Field label="Fall back on statuses" hint="Comma-separated, e.g. 500, 502">
          {(id, hint) => <Input id={id} disabled={!fallback} aria-describedby={hint} value={statuses} onChange={(e) => setStatuses(e.target.value)} />}
        </Field>
        <Field label="Capacity" hint="In flight at once; empty: no limit">
          {(id, hint) => <Input id={id} type="number" min="1" aria-describedby={hint} value={capacity} onChange={(e) => setCapacity(e.target.value)} />}
        </Field>
      </div>
      {save.error && <FormError error={save.error} />}
      <DialogFooter>
        <Button type="submit" aria-busy={save.isPending} disabled={save.isPending}>
          {save.isPending && <Loader2 aria-hidden className="animate-spin" />}
          {model ? "Save routing" : "Create composite"}
        </Button>
      </DialogFooter>
    </form>
  );
}

function ComponentsEditor({ model, models }: { model: Model; models: Model[] }) {
  const qc = useQueryClient();
  const key = ["models", model.id, "components"];
  const current = useQuery({
    queryKey: key,
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/models/{id}/components", { params: { path: { id: model.id } } })).data,
  });
  // The edited set; null until the person changes something (until then it is the saved set).
  const [edited, setEdited] = useState<ComponentRow[] | null>(null);
  const rows: ComponentRow[] =
    edited ?? (current.data ?? []).map((c) => ({ model_id: c.model_id, alias: c.alias, weight: String(c.weight), sort_order: String(c.sort_order), enabled: c.enabled }));
  const candidates = models.filter((m) => !m.is_composite && m.id !== model.id && !rows.some((r) => r.model_id === m.id));
  const [adding, setAdding] = useState("");
  const toAdd = candidates.some((m) => m.id === adding) ? adding : (candidates[0]?.id ?? "");
  const change = (i: number, patch: Partial<ComponentRow>) => setEdited(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const save = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.PUT("/admin/api/v1/models/{id}/components", {
          params: { path: { id: model.id } },
          body: rows.map((r) => ({ model_id: r.model_id, weight: Number(r.weight), sort_order: Number(r.sort_order), enabled: r.enabled })),
        }),
      ),
    onSuccess: (saved) => {
      qc.setQueryData(key, saved.data);
      setEdited(null);
    },
  });
  if (current.isPending) return <Loading rows={2} label="Loading components" />;
  if (current.error) return <QueryError error={current.error} />;
  return (
    <form
      aria-label="Components"
      className="grid gap-3"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <Table aria-label="Components">
        <TableHeader>
          <TableRow>
            <TableHead>Model</TableHead>
            <TableHead>Weight (1–100)</TableHead>
            <TableHead>Order</TableHead>
            <TableHead>Enabled</TableHead>
            <TableHead className="text-right">Remove</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {rows.map((r, i) => (
            <TableRow key={r.model_id}>
              <TableCell className="font-mono text-xs">{r.alias}</TableCell>
              <TableCell>
                <Input type="number" min="1" max="100" required className="w-24" aria-label={`Weight of ${r.alias}`} value={r.weight} onChange={(e) => change(i, { weight: e.target.value })} />
              </TableCell>
              <TableCell>
                <Input type="number" required className="w-24" aria-label={`Order of ${r.alias}`} value={r.sort_order} onChange={(e) => change(i, { sort_order: e.target.value })} />
              </TableCell>
              <TableCell>
                <input type="checkbox" className="accent-primary size-4" aria-label={`${r.alias} enabled`} checked={r.enabled} onChange={(e) => change(i, { enabled: e.target.checked })} />
              </TableCell>
              <TableCell className="text-right">
                <Button type="button" variant="ghost" size="icon" className="text-destructive" aria-label={`Remove ${r.alias}`} onClick={() => setEdited(rows.filter((_, j) => j !== i))}>
                  <Trash2 aria-hidden />
                </Button>
              </TableCell>
            </TableRow>
          ))}
          {rows.length === 0 && (
            <TableRow>
              <TableCell colSpan={5} className="text-muted-foreground">
                No components: requests to {model.alias} answer 503 until some are saved.
              </TableCell>
            </TableRow>
          )}
        </TableBody>
      </Table>
      <div className="flex items-end gap-2">
        <div className="grow">
          <Field label="Model to add">
            {(id) => (
              <NativeSelect id={id} disabled={candidates.length === 0} value={toAdd} onChange={(e) => setAdding(e.target.value)}>
                {candidates.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.alias}
                  </option>
                ))}
                {candidates.length === 0 && <option value="">Every ordinary model is already a component</option>}
              </NativeSelect>
            )}
          </Field>
        </div>
        <Button
          type="button"
          variant="outline"
          disabled={!toAdd}
          onClick={() => {
            const m = candidates.find((c) => c.id === toAdd);
            if (!m) return;
            const next = rows.reduce((max, r) => Math.max(max, Number(r.sort_order) || 0), -1) + 1;
            setEdited([...rows, { model_id: m.id, alias: m.alias, weight: "1", sort_order: String(next), enabled: true }]);
          }}
        >
          <Plus aria-hidden /> Add component
        </Button>
      </div>
      {save.error && <FormError error={save.error} />}
      {save.isSuccess && edited === null && (
        <p role="status" className="text-muted-foreground text-sm">
          Components saved.
        </p>
      )}
      <DialogFooter>
        <Button type="submit" aria-busy={save.isPending} disabled={save.isPending || edited === null}>
          {save.isPending && <Loader2 aria-hidden className="animate-spin" />}
          Save components
        </Button>
      </DialogFooter>
    </form>
  );
}

/**
 * Create a composite (`model` null) or edit one: its routing, then its components. A newly
 * created composite stays in the dialog so its components can be set next.
 */
export function CompositeDialog({ model, models, onOpenChange }: { model: Model | null; models: Model[]; onOpenChange: (o: boolean) => void }) {
  const [saved, setSaved] = useState<Model | null>(model);
  return (
    <Dialog open onOpenChange={onOpenChange}>
      <DialogContent className="max-h-[90vh] overflow-y-auto sm:max-w-3xl">
        <DialogHeader>
          <DialogTitle>{saved ? `Composite ${saved.alias}` : "New composite model"}</DialogTitle>
          <DialogDescription>One alias routed over ordinary models: by weight or priority, falling back to another component before the first byte.</DialogDescription>
        </DialogHeader>
        <section aria-labelledby="routing-h" className="grid gap-3">
          <h3 id="routing-h" className="font-medium">
            Routing
          </h3>
          <RoutingForm key={saved?.id ?? "new"} model={saved} onSaved={setSaved} />
        </section>
        {saved && (
          <section aria-labelledby="composite-components-h" className="grid gap-3">
            <h3 id="composite-components-h" className="font-medium">
              Components
            </h3>
            <ComponentsEditor model={saved} models={models} />
          </section>
        )}
      </DialogContent>
    </Dialog>
  );
}
