import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { KeyRound, Loader2, Plus, RotateCw, Trash2 } from "lucide-react";
import { useState } from "react";
import { isManager, isSystemUser, SYSTEM_USER_ID } from "@/api/auth";
import { api, currentOrganization, unwrap } from "@/api/client";
import { Confirm } from "@/components/confirm";
import { CopyButton } from "@/components/copy-button";
import { Field } from "@/components/field";
import { Empty, Loading, PageHeader, QueryError } from "@/components/page";
import { Alert, AlertDescription, AlertTitle } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { NativeSelect } from "@/components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { ago, when } from "@/lib/format";
import { useUsers } from "@/lib/names";
import { useSession } from "@/lib/session";

type Purpose = "realtime" | "batch" | "platform" | "playground";
const PURPOSES: { value: Purpose; label: string; hint: string }[] = [
  { value: "realtime", label: "Realtime", hint: "Inference: /ai/v1 calls billed at realtime prices" },
  { value: "batch", label: "Batch", hint: "Inference billed at batch prices" },
  { value: "platform", label: "Platform", hint: "The admin API and console, with its owner's roles" },
  { value: "playground", label: "Playground", hint: "Inference from the console's playground" },
];

function SecretDialog({ secret, onClose }: { secret: { name: string; key: string } | null; onClose: () => void }) {
  return (
    <Dialog open={secret !== null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Copy the secret of “{secret?.name}” now</DialogTitle>
          <DialogDescription>It is shown only this once; Tollgate keeps only its hash.</DialogDescription>
        </DialogHeader>
        <div className="flex items-center gap-2">
          <Input readOnly aria-label="New API key secret" value={secret?.key ?? ""} className="font-mono text-xs" onFocus={(e) => e.currentTarget.select()} />
          {secret && <CopyButton value={secret.key} label="Copy the secret" />}
        </div>
        <DialogFooter>
          <Button onClick={onClose}>Done</Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

function CreateKeyDialog({ owner, open, onOpenChange, onCreated }: { owner: string; open: boolean; onOpenChange: (o: boolean) => void; onCreated: (k: { name: string; key: string }) => void }) {
  const [name, setName] = useState("");
  const [purpose, setPurpose] = useState<Purpose>("realtime");
  const [rps, setRps] = useState("");
  const [burst, setBurst] = useState("");
  const qc = useQueryClient();
  const create = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/admin/api/v1/users/{user_id}/api-keys", {
          params: { path: { user_id: owner } },
          body: { name: name.trim(), purpose, ...(rps ? { requests_per_second: Number(rps) } : {}), ...(burst ? { burst_size: Number(burst) } : {}) },
        }),
      ),
    onSuccess: (k) => {
      void qc.invalidateQueries({ queryKey: ["api-keys"] });
      onOpenChange(false);
      setName("");
      setRps("");
      setBurst("");
      onCreated({ name: k.name, key: k.key });
    },
  });
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Create an API key</DialogTitle>
          <DialogDescription>The secret is shown once, right after creation.</DialogDescription>
        </DialogHeader>
        <form
          className="grid gap-4"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <Field label="Name">{(id) => <Input id={id} required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. production backend" />}</Field>
          <Field label="Purpose" hint={PURPOSES.find((p) => p.value === purpose)?.hint}>
            {(id, hint) => (
              <NativeSelect id={id} aria-describedby={hint} value={purpose} onChange={(e) => setPurpose(e.target.value as Purpose)}>
                {PURPOSES.map((p) => (
                  <option key={p.value} value={p.value}>
                    {p.label}
                  </option>
                ))}
              </NativeSelect>
            )}
          </Field>
          <div className="grid grid-cols-2 gap-4">
            <Field label="Requests per second" hint="Empty: no limit">
              {(id, hint) => <Input id={id} type="number" min="0" step="any" aria-describedby={hint} value={rps} onChange={(e) => setRps(e.target.value)} />}
            </Field>
            <Field label="Burst size" hint="Empty: no limit">
              {(id, hint) => <Input id={id} type="number" min="1" step="1" aria-describedby={hint} value={burst} onChange={(e) => setBurst(e.target.value)} />}
            </Field>
          </div>
          {create.error && <p role="alert" className="text-destructive text-sm">{create.error.message}</p>}
          <DialogFooter>
            <Button type="submit" aria-busy={create.isPending} disabled={create.isPending}>
              {create.isPending && <Loader2 aria-hidden className="animate-spin" />}
              Create key
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

export default function Keys() {
  const session = useSession();
  const qc = useQueryClient();
  const users = useUsers(session);
  // The ADMIN_TOKEN's system user owns no keys (the API refuses them): it manages other users'.
  const system = isSystemUser(session) && !currentOrganization();
  const [chosen, setOwner] = useState<string | null>(system ? null : "current");
  const owner = chosen ?? users.data?.find((u) => u.id !== SYSTEM_USER_ID)?.id ?? "current";
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const keys = useQuery({
    enabled: chosen !== null || users.isFetched,
    queryKey: ["api-keys", owner, "page"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/users/{user_id}/api-keys", { params: { path: { user_id: owner }, query: { limit: 500 } } })),
  });
  const refresh = () => qc.invalidateQueries({ queryKey: ["api-keys"] });
  return (
    <>
      <PageHeader
        title="API keys"
        description="Keys authenticate calls to /ai/v1 (inference) and, with the platform purpose, the admin API."
        actions={
          <>
            {isManager(session) && (
              <NativeSelect aria-label="Whose keys" value={owner} onChange={(e) => setOwner(e.target.value)}>
                {!system && <option value="current">{currentOrganization() ? "The organization's" : "Mine"}</option>}
                {(users.data ?? [])
                  .filter((u) => u.id !== session.user.id && u.id !== SYSTEM_USER_ID)
                  .map((u) => (
                    <option key={u.id} value={u.id ?? ""}>
                      {u.username}
                    </option>
                  ))}
              </NativeSelect>
            )}
            <Button onClick={() => setCreating(true)}>
              <Plus aria-hidden /> Create key
            </Button>
          </>
        }
      />
      {keys.error && <QueryError error={keys.error} />}
      <Card className="py-2">
        <CardContent className="px-2">
          {keys.isPending ? (
            <Loading rows={4} label="Loading keys" />
          ) : keys.data?.data.length === 0 ? (
            <Empty>
              <KeyRound aria-hidden className="mx-auto mb-2 size-6" />
              No API keys yet. Create one to call the gateway.
            </Empty>
          ) : (
            <Table aria-label="API keys">
              <TableHeader>
                <TableRow>
                  <TableHead>Name</TableHead>
                  <TableHead>Prefix</TableHead>
                  <TableHead>Purpose</TableHead>
                  <TableHead>Limits</TableHead>
                  <TableHead>Created</TableHead>
                  <TableHead>Last used</TableHead>
                  <TableHead className="text-right">Actions</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {keys.data?.data.map((k) => (
                  <TableRow key={k.id}>
                    <TableCell className="font-medium">{k.name}</TableCell>
                    <TableCell>
                      <code className="text-xs">{k.key_prefix}…</code>
                    </TableCell>
                    <TableCell>
                      <Badge variant={k.purpose === "platform" ? "default" : "secondary"}>{k.purpose}</Badge>
                    </TableCell>
                    <TableCell className="text-muted-foreground">
                      {k.requests_per_second === null && k.burst_size === null ? "none" : `${k.requests_per_second ?? "∞"} rps, burst ${k.burst_size ?? "—"}`}
                    </TableCell>
                    <TableCell className="text-muted-foreground">{when(k.created_at)}</TableCell>
                    <TableCell className="text-muted-foreground" title={when(k.last_used_at)}>
                      {ago(k.last_used_at)}
                    </TableCell>
                    <TableCell className="text-right">
                      <div className="flex justify-end gap-1">
                        <Confirm
                          trigger={
                            <Button variant="ghost" size="sm" aria-label={`Rotate ${k.name}`}>
                              <RotateCw aria-hidden /> Rotate
                            </Button>
                          }
                          title={`Rotate “${k.name}”?`}
                          description="A new secret replaces the current one, which stops working at once."
                          action="Rotate"
                          onConfirm={async () => {
                            const r = unwrap(await api.POST("/admin/api/v1/users/{user_id}/api-keys/{id}/rotate", { params: { path: { user_id: k.user_id, id: k.id } } }));
                            await refresh();
                            setSecret({ name: r.name, key: r.key });
                          }}
                        />
                        <Confirm
                          trigger={
                            <Button variant="ghost" size="sm" className="text-destructive" aria-label={`Revoke ${k.name}`}>
                              <Trash2 aria-hidden /> Revoke
                            </Button>
                          }
                          title={`Revoke “${k.name}”?`}
                          description="Calls with this key are refused from now on. This cannot be undone."
                          action="Revoke"
                          onConfirm={async () => {
                            unwrap(await api.DELETE("/admin/api/v1/users/{user_id}/api-keys/{id}", { params: { path: { user_id: k.user_id, id: k.id } } }));
                            await refresh();
                          }}
                        />
                      </div>
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </CardContent>
      </Card>
      <CreateKeyDialog owner={owner} open={creating} onOpenChange={setCreating} onCreated={setSecret} />
      <SecretDialog secret={secret} onClose={() => setSecret(null)} />
    </>
  );
}
