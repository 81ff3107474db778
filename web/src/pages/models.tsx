import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { CheckCircle2, Loader2, Plug, Plus, Settings2, Trash2, XCircle } from "lucide-react";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { modelGroups, testEndpoint, type EndpointTest } from "@/api/console";
import { Confirm } from "@/components/confirm";
import { Field } from "@/components/field";
import { Empty, Loading, PageHeader, QueryError } from "@/components/page";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { NativeSelect } from "@/components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { Textarea } from "@/components/ui/textarea";
import { exactAmount, ms, when } from "@/lib/format";
import { CompositeDialog } from "./models-composite";

type Model = Awaited<ReturnType<typeof listModels>>[number];
type Endpoint = Awaited<ReturnType<typeof listEndpoints>>[number];
type Tariff = { purpose: "realtime" | "batch" | "playground"; completion_window: string | null; input_price_per_token: string; output_price_per_token: string };

async function listModels() {
  return unwrap(await api.GET("/admin/api/v1/models", { params: { query: { limit: 500 } } })).data;
}
async function listEndpoints() {
  return unwrap(await api.GET("/admin/api/v1/endpoints", { params: { query: { limit: 500 } } })).data;
}

function ModelDialog({ model, endpoints, open, onOpenChange }: { model: Model | null; endpoints: Endpoint[]; open: boolean; onOpenChange: (o: boolean) => void }) {
  const qc = useQueryClient();
  const [alias, setAlias] = useState(model?.alias ?? "");
  const [modelName, setModelName] = useState(model?.model_name ?? "");
  const [hostedOn, setHostedOn] = useState(model?.hosted_on ?? endpoints[0]?.id ?? "");
  const [description, setDescription] = useState(model?.description ?? "");
  const [open2all, setOpen2all] = useState(model?.open_to_everyone ?? true);
  const [rps, setRps] = useState(model?.requests_per_second?.toString() ?? "");
  const save = useMutation({
    mutationFn: async () => {
      const body = {
        alias: alias.trim(),
        model_name: modelName.trim(),
        hosted_on: hostedOn,
        description: description.trim() || null,
        open_to_everyone: open2all,
        requests_per_second: rps ? Number(rps) : null,
      };
      return model
        ? unwrap(await api.PATCH("/admin/api/v1/models/{id}", { params: { path: { id: model.id } }, body }))
        : unwrap(await api.POST("/admin/api/v1/models", { body }));
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["models"] });
      onOpenChange(false);
    },
  });
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>{model ? `Edit ${model.alias}` : "Deploy a model"}</DialogTitle>
          <DialogDescription>Clients send the alias as `model`; the gateway calls the endpoint with the upstream name.</DialogDescription>
        </DialogHeader>
        <form
          className="grid gap-4"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <div className="grid grid-cols-2 gap-4">
            <Field label="Alias">{(id) => <Input id={id} required value={alias} onChange={(e) => setAlias(e.target.value)} placeholder="gpt-4o" />}</Field>
            <Field label="Upstream model name">{(id) => <Input id={id} required value={modelName} onChange={(e) => setModelName(e.target.value)} />}</Field>
          </div>
          <Field label="Endpoint">
            {(id) => (
              <NativeSelect id={id} required value={hostedOn} onChange={(e) => setHostedOn(e.target.value)}>
                {endpoints.map((ep) => (
                  <option key={ep.id} value={ep.id}>
                    {ep.name} — {ep.url}
                  </option>
                ))}
              </NativeSelect>
            )}
          </Field>
          <Field label="Description">{(id) => <Textarea id={id} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
          <div className="grid grid-cols-2 items-end gap-4">
            <Field label="Requests per second" hint="Across all clients; empty: no limit">
              {(id, hint) => <Input id={id} type="number" min="0" step="any" aria-describedby={hint} value={rps} onChange={(e) => setRps(e.target.value)} />}
            </Field>
            <label className="flex items-center gap-2 pb-6 text-sm">
              <input type="checkbox" className="accent-primary size-4" checked={open2all} onChange={(e) => setOpen2all(e.target.checked)} />
              Open to everyone
            </label>
          </div>
          {save.error && <p role="alert" className="text-destructive text-sm">{save.error.message}</p>}
          <DialogFooter>
            <Button type="submit" aria-busy={save.isPending} disabled={save.isPending || !hostedOn}>
              {save.isPending && <Loader2 aria-hidden className="animate-spin" />}
              {model ? "Save" : "Deploy"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function Pricing({ model }: { model: Model }) {
  const qc = useQueryClient();
  const tariffs = useQuery({
    queryKey: ["models", model.id, "tariffs"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/models/{id}/tariffs", { params: { path: { id: model.id }, query: { include_history: "true" } } })).data,
  });
  const cache = useQuery({
    queryKey: ["models", model.id, "cache"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/models/{id}/cache-pricing", { params: { path: { id: model.id } } })),
  });
  const groups = useQuery({ queryKey: ["models", model.id, "groups"], queryFn: () => modelGroups(model.id), retry: false });
  const components = useQuery({
    queryKey: ["models", model.id, "components"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/models/{id}/components", { params: { path: { id: model.id } } })).data,
    enabled: model.is_composite,
  });
  const [purpose, setPurpose] = useState<Tariff["purpose"]>("realtime");
  const [input, setInput] = useState("");
  const [output, setOutput] = useState("");
  const [readMult, setReadMult] = useState("0.1");
  const setTariff = useMutation({
    mutationFn: async () => {
      const active: Tariff[] = (tariffs.data ?? [])
        .filter((t) => t.valid_until === null && !(t.purpose === purpose && t.completion_window === null))
        .map((t) => ({ purpose: t.purpose, completion_window: t.completion_window, input_price_per_token: t.input_price_per_token, output_price_per_token: t.output_price_per_token }));
      return unwrap(
        await api.PUT("/admin/api/v1/models/{id}/tariffs", {
          params: { path: { id: model.id } },
          body: [...active, { purpose, completion_window: null, input_price_per_token: input.trim(), output_price_per_token: output.trim() }],
        }),
      );
    },
    onSuccess: () => {
      setInput("");
      setOutput("");
      void qc.invalidateQueries({ queryKey: ["models", model.id] });
    },
  });
  const setCache = useMutation({
    mutationFn: async () => unwrap(await api.PUT("/admin/api/v1/models/{id}/cache-pricing", { params: { path: { id: model.id } }, body: { read_multiplier: readMult.trim() } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ["models", model.id] }),
  });
  return (
    <div className="grid gap-6">
      <section aria-labelledby="tariffs-h">
        <h3 id="tariffs-h" className="mb-2 font-medium">
          Tariffs
        </h3>
        {tariffs.isPending ? (
          <Loading rows={2} label="Loading tariffs" />
        ) : (
          <Table aria-label="Tariffs">
            <TableHeader>
              <TableRow>
                <TableHead>Purpose</TableHead>
                <TableHead>Input (credits / token)</TableHead>
                <TableHead>Output (credits / token)</TableHead>
                <TableHead>Valid</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {(tariffs.data ?? []).map((t) => (
                <TableRow key={t.id} className={t.valid_until ? "text-muted-foreground" : ""}>
                  <TableCell>
                    {t.purpose}
                    {t.completion_window ? ` (${t.completion_window})` : ""} {t.valid_until === null && <Badge variant="success">in force</Badge>}
                  </TableCell>
                  <TableCell className="font-mono text-xs">{exactAmount(t.input_price_per_token)}</TableCell>
                  <TableCell className="font-mono text-xs">{exactAmount(t.output_price_per_token)}</TableCell>
                  <TableCell className="text-xs">
                    {when(t.valid_from)} → {t.valid_until ? when(t.valid_until) : "now"}
                  </TableCell>
                </TableRow>
              ))}
              {tariffs.data?.length === 0 && (
                <TableRow>
                  <TableCell colSpan={4} className="text-muted-foreground">
                    No tariff: requests are free.
                  </TableCell>
                </TableRow>
              )}
            </TableBody>
          </Table>
        )}
        <form
          className="mt-3 grid grid-cols-[1fr_1fr_1fr_auto] items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            setTariff.mutate();
          }}
        >
          <Field label="Purpose">
            {(id) => (
              <NativeSelect id={id} value={purpose} onChange={(e) => setPurpose(e.target.value as Tariff["purpose"])}>
                <option value="realtime">realtime</option>
                <option value="batch">batch</option>
                <option value="playground">playground</option>
              </NativeSelect>
            )}
          </Field>
          <Field label="Input price per token (credits)">{(id) => <Input id={id} required inputMode="decimal" value={input} onChange={(e) => setInput(e.target.value)} placeholder="0.000001" />}</Field>
          <Field label="Output price per token (credits)">{(id) => <Input id={id} required inputMode="decimal" value={output} onChange={(e) => setOutput(e.target.value)} placeholder="0.000002" />}</Field>
          <Button type="submit" aria-busy={setTariff.isPending} disabled={setTariff.isPending}>
            {setTariff.isPending && <Loader2 aria-hidden className="animate-spin" />}
            Set price
          </Button>
        </form>
        {setTariff.error && <p role="alert" className="text-destructive mt-2 text-sm">{setTariff.error.message}</p>}
      </section>
      <section aria-labelledby="cache-h">
        <h3 id="cache-h" className="mb-2 font-medium">
          Prompt-cache pricing
        </h3>
        {cache.data?.active ? (
          <p className="text-sm">
            On: reads at {cache.data.active.read_multiplier}× the input price; writes 5m {cache.data.active.write_multiplier_5m ?? "list"}, 1h {cache.data.active.write_multiplier_1h ?? "list"}, 24h{" "}
            {cache.data.active.write_multiplier_24h ?? "list"}; prompts under {cache.data.active.min_prefix_tokens} tokens are not cached. Since {when(cache.data.active.valid_from)}.
          </p>
        ) : (
          <p className="text-muted-foreground text-sm">Caching is off for this model.</p>
        )}
        {cache.data && cache.data.history.length > 0 && <p className="text-muted-foreground mt-1 text-xs">{cache.data.history.length} earlier cache tariff(s).</p>}
        <form
          className="mt-3 flex items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            setCache.mutate();
          }}
        >
          <Field label="Cache read multiplier">{(id) => <Input id={id} required inputMode="decimal" value={readMult} onChange={(e) => setReadMult(e.target.value)} />}</Field>
          <Button type="submit" variant="outline" aria-busy={setCache.isPending} disabled={setCache.isPending}>
            {setCache.isPending && <Loader2 aria-hidden className="animate-spin" />}
            {cache.data?.active ? "Replace cache tariff" : "Turn caching on"}
          </Button>
        </form>
        {setCache.error && <p role="alert" className="text-destructive mt-2 text-sm">{setCache.error.message}</p>}
      </section>
      {model.is_composite && (
        <section aria-labelledby="components-h">
          <h3 id="components-h" className="mb-2 font-medium">
            Components
          </h3>
          <p className="text-muted-foreground mb-2 text-sm">
            {model.lb_strategy === "priority" ? "By priority (sort order)" : "Weighted at random"}; fallback {model.fallback_enabled ? `on ${model.fallback_on_status.join(", ")}, up to ${model.fallback_max_attempts} attempts` : "off"}.
          </p>
          {components.error ? (
            <QueryError error={components.error} />
          ) : (
            <Table>
              <TableHeader>
                <TableRow>
                  <TableHead>Model</TableHead>
                  <TableHead>Weight</TableHead>
                  <TableHead>Order</TableHead>
                  <TableHead>Enabled</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {(components.data ?? []).map((c) => (
                  <TableRow key={c.model_id}>
                    <TableCell className="font-mono text-xs">{c.alias}</TableCell>
                    <TableCell>{c.weight}</TableCell>
                    <TableCell>{c.sort_order}</TableCell>
                    <TableCell>{c.enabled ? "yes" : "no"}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
          {components.data?.length === 0 && <p className="text-muted-foreground text-sm">No components yet: requests answer 503 until some are set (Edit the model).</p>}
        </section>
      )}
      <section aria-labelledby="groups-h">
        <h3 id="groups-h" className="mb-2 font-medium">
          Who may use it
        </h3>
        {model.open_to_everyone ? (
          <p className="text-sm">Everyone (the model is open to every user).</p>
        ) : groups.error ? (
          <p className="text-muted-foreground text-sm">The groups granting it are listed under Users &amp; orgs → Groups.</p>
        ) : (
          <div className="flex flex-wrap gap-1">
            {(groups.data ?? []).map((g) => (
              <Badge key={g.id} variant="secondary">
                {g.name}
              </Badge>
            ))}
            {groups.data?.length === 0 && <span className="text-muted-foreground text-sm">No group grants it yet.</span>}
          </div>
        )}
      </section>
    </div>
  );
}

function EndpointDialog({ endpoint, open, onOpenChange }: { endpoint: Endpoint | null; open: boolean; onOpenChange: (o: boolean) => void }) {
  const qc = useQueryClient();
  const [name, setName] = useState(endpoint?.name ?? "");
  const [url, setUrl] = useState(endpoint?.url ?? "");
  const [key, setKey] = useState("");
  const [clearKey, setClearKey] = useState(false);
  const create = useMutation({
    mutationFn: async () =>
      endpoint
        ? unwrap(
            await api.PATCH("/admin/api/v1/endpoints/{id}", {
              params: { path: { id: endpoint.id } },
              // An empty key field keeps the stored key; "remove" clears it.
              body: { name: name.trim(), url: url.trim(), ...(clearKey ? { api_key: null } : key ? { api_key: key } : {}) },
            }),
          )
        : unwrap(await api.POST("/admin/api/v1/endpoints", { body: { name: name.trim(), url: url.trim(), api_key: key || null } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["endpoints"] });
      onOpenChange(false);
    },
  });
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>{endpoint ? `Edit ${endpoint.name}` : "Add an endpoint"}</DialogTitle>
          <DialogDescription>An OpenAI-compatible model server. Its API key is stored encrypted and never shown again.</DialogDescription>
        </DialogHeader>
        <form
          className="grid gap-4"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <Field label="Endpoint name">{(id) => <Input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label="Base URL" hint="e.g. https://api.example.com/v1">
            {(id, hint) => <Input id={id} required type="url" aria-describedby={hint} value={url} onChange={(e) => setUrl(e.target.value)} />}
          </Field>
          <Field label="Upstream API key" hint={endpoint?.has_api_key ? "Empty: keep the stored key" : "Optional"}>
            {(id, hint) => <Input id={id} type="password" autoComplete="off" aria-describedby={hint} disabled={clearKey} value={key} onChange={(e) => setKey(e.target.value)} />}
          </Field>
          {endpoint?.has_api_key && (
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" className="accent-primary size-4" checked={clearKey} onChange={(e) => setClearKey(e.target.checked)} />
              Remove the stored key
            </label>
          )}
          {create.error && <p role="alert" className="text-destructive text-sm">{create.error.message}</p>}
          <DialogFooter>
            <Button type="submit" aria-busy={create.isPending} disabled={create.isPending}>
              {create.isPending && <Loader2 aria-hidden className="animate-spin" />}
              {endpoint ? "Save endpoint" : "Add endpoint"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function TestResult({ result }: { result: EndpointTest }) {
  return (
    <span role="status" className={result.ok ? "text-success inline-flex items-center gap-1 text-sm" : "text-destructive inline-flex items-center gap-1 text-sm"}>
      {result.ok ? <CheckCircle2 aria-hidden className="size-4" /> : <XCircle aria-hidden className="size-4" />}
      {result.ok ? `OK in ${ms(result.latency_ms)}, ${result.models.length} model(s)` : `Failed${result.status ? ` (${result.status})` : ""}: ${result.error ?? "no answer"}`}
    </span>
  );
}

export default function Models() {
  const models = useQuery({ queryKey: ["models"], queryFn: listModels });
  const endpoints = useQuery({ queryKey: ["endpoints"], queryFn: listEndpoints });
  const [editing, setEditing] = useState<Model | "new" | null>(null);
  const [managing, setManaging] = useState<Model | null>(null);
  const [composite, setComposite] = useState<Model | "new" | null>(null);
  const qc = useQueryClient();
  const [addingEndpoint, setAddingEndpoint] = useState(false);
  const [editingEndpoint, setEditingEndpoint] = useState<Endpoint | null>(null);
  const [tests, setTests] = useState<Record<string, EndpointTest | string>>({});
  const endpointName = new Map((endpoints.data ?? []).map((e) => [e.id, e.name]));
  return (
    <>
      <PageHeader title="Models" description="What clients may call, where it runs, and what it costs." />
      <Tabs defaultValue="models">
        <TabsList>
          <TabsTrigger value="models">Models</TabsTrigger>
          <TabsTrigger value="endpoints">Endpoints</TabsTrigger>
        </TabsList>
        <TabsContent value="models">
          <Card className="py-2">
            <CardContent className="px-2">
              <div className="flex justify-end gap-2 p-2">
                <Button variant="outline" onClick={() => setComposite("new")} disabled={!models.data}>
                  <Plus aria-hidden /> New composite model
                </Button>
                <Button onClick={() => setEditing("new")} disabled={!endpoints.data?.length}>
                  <Plus aria-hidden /> Deploy a model
                </Button>
              </div>
              {models.error && <QueryError error={models.error} />}
              {models.isPending ? (
                <Loading rows={3} label="Loading models" />
              ) : models.data?.length === 0 ? (
                <Empty>No models yet: add an endpoint, then deploy a model on it.</Empty>
              ) : (
                <Table aria-label="Models">
                  <TableHeader>
                    <TableRow>
                      <TableHead>Alias</TableHead>
                      <TableHead>Upstream name</TableHead>
                      <TableHead>Endpoint</TableHead>
                      <TableHead>Type</TableHead>
                      <TableHead>Access</TableHead>
                      <TableHead>Rate limit</TableHead>
                      <TableHead className="text-right">Actions</TableHead>
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {models.data?.map((m) => (
                      <TableRow key={m.id}>
                        <TableCell className="font-mono text-xs font-medium">{m.alias}</TableCell>
                        <TableCell className="font-mono text-xs">{m.model_name ?? "—"}</TableCell>
                        <TableCell>{m.is_composite ? <Badge variant="secondary">composite</Badge> : (endpointName.get(m.hosted_on ?? "") ?? "—")}</TableCell>
                        <TableCell>{m.model_type}</TableCell>
                        <TableCell>{m.open_to_everyone ? <Badge variant="success">everyone</Badge> : <Badge variant="secondary">groups</Badge>}</TableCell>
                        <TableCell className="text-muted-foreground">{m.requests_per_second ? `${m.requests_per_second} rps` : "none"}</TableCell>
                        <TableCell className="text-right">
                          <Button variant="ghost" size="sm" aria-label={`Pricing and access of ${m.alias}`} onClick={() => setManaging(m)}>
                            <Settings2 aria-hidden /> Pricing
                          </Button>
                          <Button variant="ghost" size="sm" aria-label={`Edit ${m.alias}`} onClick={() => (m.is_composite ? setComposite(m) : setEditing(m))}>
                            Edit
                          </Button>
                        </TableCell>
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              )}
            </CardContent>
          </Card>
        </TabsContent>
        <TabsContent value="endpoints">
          <Card className="py-2">
            <CardContent className="px-2">
              <div className="flex justify-end p-2">
                <Button onClick={() => setAddingEndpoint(true)}>
                  <Plus aria-hidden /> Add endpoint
                </Button>
              </div>
              {endpoints.isPending ? (
                <Loading rows={3} label="Loading endpoints" />
              ) : (
                <Table aria-label="Endpoints">
                  <TableHeader>
                    <TableRow>
                      <TableHead>Name</TableHead>
                      <TableHead>URL</TableHead>
                      <TableHead>Key</TableHead>
                      <TableHead>Connection</TableHead>
                      <TableHead className="text-right">Actions</TableHead>
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {endpoints.data?.map((ep) => {
                      const t = tests[ep.id];
                      return (
                        <TableRow key={ep.id}>
                          <TableCell className="font-medium">{ep.name}</TableCell>
                          <TableCell className="font-mono text-xs">{ep.url}</TableCell>
                          <TableCell>{ep.has_api_key ? <Badge variant="secondary">stored</Badge> : <span className="text-muted-foreground">none</span>}</TableCell>
                          <TableCell className="flex items-center gap-3">
                            <Button
                              variant="outline"
                              size="sm"
                              aria-label={`Test connection to ${ep.name}`}
                              disabled={t === "testing"}
                              onClick={async () => {
                                setTests((s) => ({ ...s, [ep.id]: "testing" }));
                                try {
                                  const r = await testEndpoint(ep.id);
                                  setTests((s) => ({ ...s, [ep.id]: r }));
                                } catch (err) {
                                  setTests((s) => ({ ...s, [ep.id]: err instanceof Error ? err.message : String(err) }));
                                }
                              }}
                            >
                              {t === "testing" ? <Loader2 aria-hidden className="animate-spin" /> : <Plug aria-hidden />} Test
                            </Button>
                            {t === "testing" ? <span className="text-muted-foreground text-sm">Testing…</span> : typeof t === "string" ? <span role="status" className="text-destructive text-sm">{t}</span> : t ? <TestResult result={t} /> : null}
                          </TableCell>
                          <TableCell className="text-right whitespace-nowrap">
                            <Button variant="ghost" size="sm" aria-label={`Edit ${ep.name}`} onClick={() => setEditingEndpoint(ep)}>
                              Edit
                            </Button>
                            <Confirm
                              trigger={
                                <Button variant="ghost" size="icon" className="text-destructive" title="Delete endpoint" aria-label={`Delete ${ep.name}`}>
                                  <Trash2 aria-hidden />
                                </Button>
                              }
                              title={`Delete ${ep.name}?`}
                              description="Only an endpoint that hosts no models can be deleted: move or delete its models first."
                              action="Delete endpoint"
                              onConfirm={async () => {
                                unwrap(await api.DELETE("/admin/api/v1/endpoints/{id}", { params: { path: { id: ep.id } } }));
                                await qc.invalidateQueries({ queryKey: ["endpoints"] });
                              }}
                            />
                          </TableCell>
                        </TableRow>
                      );
                    })}
                  </TableBody>
                </Table>
              )}
            </CardContent>
          </Card>
        </TabsContent>
      </Tabs>
      {editing !== null && (
        <ModelDialog key={editing === "new" ? "new" : editing.id} model={editing === "new" ? null : editing} endpoints={endpoints.data ?? []} open onOpenChange={(o) => !o && setEditing(null)} />
      )}
      {composite !== null && (
        <CompositeDialog key={composite === "new" ? "new" : composite.id} model={composite === "new" ? null : composite} models={models.data ?? []} onOpenChange={(o) => !o && setComposite(null)} />
      )}
      <EndpointDialog key="new-endpoint" endpoint={null} open={addingEndpoint} onOpenChange={setAddingEndpoint} />
      {editingEndpoint && <EndpointDialog key={editingEndpoint.id} endpoint={editingEndpoint} open onOpenChange={(o) => !o && setEditingEndpoint(null)} />}
      <Dialog open={managing !== null} onOpenChange={(o) => !o && setManaging(null)}>
        <DialogContent className="sm:max-w-3xl">
          <DialogHeader>
            <DialogTitle>{managing?.alias}: pricing and access</DialogTitle>
            <DialogDescription>A new price closes the one in force; history stays for the requests it priced.</DialogDescription>
          </DialogHeader>
          {managing && <Pricing model={managing} />}
        </DialogContent>
      </Dialog>
    </>
  );
}
