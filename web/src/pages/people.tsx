import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link2, Loader2, Plus, ShieldCheck, Trash2, UserPlus } from "lucide-react";
import { useState, type ReactNode } from "react";
import { isManager, readsAllUsers, ROLES, SYSTEM_USER_ID, type Role } from "@/api/auth";
import { api, unwrap } from "@/api/client";
import { inviteToOrganization, passwordLink } from "@/api/console";
import { Confirm } from "@/components/confirm";
import { CopyButton } from "@/components/copy-button";
import { Field } from "@/components/field";
import { Empty, Loading, PageHeader, QueryError } from "@/components/page";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { NativeSelect } from "@/components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { creditAmount, credits, when } from "@/lib/format";
import { useUsers } from "@/lib/names";
import { useSession } from "@/lib/session";

type OrgRole = "owner" | "admin" | "member";
const ROLE_LABEL: Record<Role, string> = {
  platform_manager: "Platform manager",
  billing_manager: "Billing manager",
  request_viewer: "Request viewer",
  standard_user: "Standard user",
};

/** A link to hand to someone: absolute, selectable, with copy. */
function LinkDialog({ link, title, onClose }: { link: { url: string; expires_at: string } | null; title: string; onClose: () => void }) {
  const url = link ? new URL(link.url, location.origin).toString() : "";
  return (
    <Dialog open={link !== null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>{title}</DialogTitle>
          <DialogDescription>Works once, until {link ? when(link.expires_at) : ""}. Send it over a channel you trust.</DialogDescription>
        </DialogHeader>
        <div className="flex items-center gap-2">
          <Input readOnly aria-label="Link" value={url} className="font-mono text-xs" onFocus={(e) => e.currentTarget.select()} />
          <CopyButton value={url} label="Copy the link" />
        </div>
        <DialogFooter>
          <Button onClick={onClose}>Done</Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

function RolesEditor({ value, onChange }: { value: Role[]; onChange: (r: Role[]) => void }) {
  return (
    <fieldset className="grid gap-2">
      <legend className="mb-1 text-sm font-medium">Roles</legend>
      {ROLES.filter((r) => r !== "standard_user").map((r) => (
        <label key={r} className="flex items-center gap-2 text-sm">
          <input type="checkbox" className="accent-primary size-4" checked={value.includes(r)} onChange={(e) => onChange(e.target.checked ? [...value, r] : value.filter((x) => x !== r))} />
          {ROLE_LABEL[r]}
        </label>
      ))}
    </fieldset>
  );
}

function UserDialog({ user, open, onOpenChange }: { user: { id: string; username: string; roles: Role[] } | null; open: boolean; onOpenChange: (o: boolean) => void }) {
  const qc = useQueryClient();
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [roles, setRoles] = useState<Role[]>(user?.roles.filter((r) => r !== "standard_user") ?? []);
  const save = useMutation({
    mutationFn: async () =>
      user
        ? unwrap(await api.PATCH("/admin/api/v1/users/{id}", { params: { path: { id: user.id } }, body: { roles } }))
        : unwrap(await api.POST("/admin/api/v1/users", { body: { username: username.trim(), email: email.trim(), display_name: displayName.trim() || null, roles } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["users"] });
      onOpenChange(false);
    },
  });
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>{user ? `Roles of ${user.username}` : "Add a user"}</DialogTitle>
          <DialogDescription>{user ? "Roles take effect on their next call." : "They can sign in once they have a password (send them a link) or a platform key."}</DialogDescription>
        </DialogHeader>
        <form
          className="grid gap-4"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          {!user && (
            <>
              <Field label="Username">{(id) => <Input id={id} required value={username} onChange={(e) => setUsername(e.target.value)} />}</Field>
              <Field label="Email">{(id) => <Input id={id} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
              <Field label="Display name">{(id) => <Input id={id} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />}</Field>
            </>
          )}
          <RolesEditor value={roles} onChange={setRoles} />
          {save.error && <p role="alert" className="text-destructive text-sm">{save.error.message}</p>}
          <DialogFooter>
            <Button type="submit" aria-busy={save.isPending} disabled={save.isPending}>
              {save.isPending && <Loader2 aria-hidden className="animate-spin" />}
              {user ? "Save roles" : "Add user"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function UsersTab() {
  const session = useSession();
  const qc = useQueryClient();
  const users = useUsers(session);
  // Billing managers read the list (to find whom to credit); only platform managers change it.
  const manager = isManager(session);
  const [editing, setEditing] = useState<{ id: string; username: string; roles: Role[] } | "new" | null>(null);
  const [link, setLink] = useState<{ url: string; expires_at: string } | null>(null);
  const [linkError, setLinkError] = useState<string | null>(null);
  return (
    <Card className="py-2">
      <CardContent className="px-2">
        {manager ? (
          <div className="flex justify-end p-2">
            <Button onClick={() => setEditing("new")}>
              <UserPlus aria-hidden /> Add user
            </Button>
          </div>
        ) : (
          <p className="text-muted-foreground p-2 text-sm">Read only: platform managers add users and change their roles.</p>
        )}
        {linkError && <p role="alert" className="text-destructive px-3 pb-2 text-sm">{linkError}</p>}
        {users.error && <QueryError error={users.error} />}
        {users.isPending ? (
          <Loading rows={4} label="Loading users" />
        ) : (
          <Table aria-label="Users">
            <TableHeader>
              <TableRow>
                <TableHead>User</TableHead>
                <TableHead>Roles</TableHead>
                <TableHead className="text-right">Balance (credits)</TableHead>
                {manager && <TableHead className="text-right">Actions</TableHead>}
              </TableRow>
            </TableHeader>
            <TableBody>
              {(users.data ?? []).map((u) => (
                <TableRow key={u.id}>
                  <TableCell>
                    <div className="font-medium">
                      {u.display_name || u.username}
                      {u.user_type === "organization" && (
                        <Badge variant="outline" className="ml-2">
                          organization
                        </Badge>
                      )}
                    </div>
                    <div className="text-muted-foreground text-xs">
                      {u.username} · {u.email ?? "no email"}
                    </div>
                  </TableCell>
                  <TableCell>
                    <div className="flex flex-wrap gap-1">
                      {u.roles.filter((r) => r !== "standard_user").map((r) => (
                        <Badge key={r} variant="secondary">
                          {ROLE_LABEL[r]}
                        </Badge>
                      ))}
                      {u.roles.every((r) => r === "standard_user") && <span className="text-muted-foreground text-xs">standard</span>}
                    </div>
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{creditAmount(u.balance)}</TableCell>
                  {manager && (
                    <TableCell className="text-right whitespace-nowrap">
                      {u.id === SYSTEM_USER_ID ? (
                        // The API refuses to edit, delete or give a password to the built-in user.
                        <span className="text-muted-foreground text-xs">built in</span>
                      ) : (
                        u.user_type === "individual" && (
                          <div className="inline-flex gap-0.5">
                            <Button variant="ghost" size="icon" title="Edit roles" aria-label={`Edit roles of ${u.username}`} onClick={() => setEditing({ id: u.id, username: u.username, roles: u.roles })}>
                              <ShieldCheck aria-hidden />
                            </Button>
                            <Button
                              variant="ghost"
                              size="icon"
                              title="Set-password link"
                              aria-label={`Password link for ${u.username}`}
                              onClick={async () => {
                                setLinkError(null);
                                try {
                                  setLink(await passwordLink(u.id));
                                } catch (err) {
                                  setLinkError(`No link for ${u.username}: ${err instanceof Error ? err.message : String(err)}`);
                                }
                              }}
                            >
                              <Link2 aria-hidden />
                            </Button>
                            {u.id !== session.user.id && (
                              <Confirm
                                trigger={
                                  <Button variant="ghost" size="icon" className="text-destructive" title="Delete user" aria-label={`Delete ${u.username}`}>
                                    <Trash2 aria-hidden />
                                  </Button>
                                }
                                title={`Delete ${u.username}?`}
                                description="Their API keys stop working; their usage and ledger rows stay."
                                action="Delete user"
                                onConfirm={async () => {
                                  unwrap(await api.DELETE("/admin/api/v1/users/{id}", { params: { path: { id: u.id } } }));
                                  await qc.invalidateQueries({ queryKey: ["users"] });
                                }}
                              />
                            )}
                          </div>
                        )
                      )}
                    </TableCell>
                  )}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </CardContent>
      {editing !== null && <UserDialog key={editing === "new" ? "new" : editing.id} user={editing === "new" ? null : editing} open onOpenChange={(o) => !o && setEditing(null)} />}
      <LinkDialog link={link} title="Set-password link" onClose={() => setLink(null)} />
    </Card>
  );
}

function Members({ orgId, myRole }: { orgId: string; myRole: OrgRole | null }) {
  const session = useSession();
  const qc = useQueryClient();
  const users = useUsers(session);
  const members = useQuery({
    queryKey: ["organizations", orgId, "members"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/organizations/{id}/members", { params: { path: { id: orgId }, query: { limit: 500 } } })).data,
  });
  const canManage = isManager(session) || myRole === "owner" || myRole === "admin";
  const [addUser, setAddUser] = useState("");
  const [addRole, setAddRole] = useState<OrgRole>("member");
  const [inviteRole, setInviteRole] = useState<"member" | "admin">("member");
  const [link, setLink] = useState<{ url: string; expires_at: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: ["organizations"] });
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await refresh();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <div className="grid gap-4">
      {members.isPending ? (
        <Loading rows={3} label="Loading members" />
      ) : (
        <Table aria-label="Members">
          <TableHeader>
            <TableRow>
              <TableHead>Member</TableHead>
              <TableHead>Role</TableHead>
              <TableHead>Joined</TableHead>
              {canManage && <TableHead className="text-right">Actions</TableHead>}
            </TableRow>
          </TableHeader>
          <TableBody>
            {(members.data ?? []).map((m) => (
              <TableRow key={m.user_id}>
                <TableCell>
                  <div className="font-medium">{m.display_name || m.username}</div>
                  <div className="text-muted-foreground text-xs">{m.email}</div>
                </TableCell>
                <TableCell>
                  {canManage ? (
                    <NativeSelect
                      aria-label={`Role of ${m.username}`}
                      value={m.role}
                      onChange={(e) =>
                        void act(async () =>
                          unwrap(await api.PATCH("/admin/api/v1/organizations/{id}/members/{user_id}", { params: { path: { id: orgId, user_id: m.user_id } }, body: { role: e.target.value as OrgRole } })),
                        )
                      }
                    >
                      <option value="owner">owner</option>
                      <option value="admin">admin</option>
                      <option value="member">member</option>
                    </NativeSelect>
                  ) : (
                    <Badge variant="secondary">{m.role}</Badge>
                  )}
                </TableCell>
                <TableCell className="text-muted-foreground">{when(m.joined_at)}</TableCell>
                {canManage && (
                  <TableCell className="text-right">
                    <Button
                      variant="ghost"
                      size="sm"
                      className="text-destructive"
                      aria-label={`Remove ${m.username}`}
                      onClick={() => void act(async () => unwrap(await api.DELETE("/admin/api/v1/organizations/{id}/members/{user_id}", { params: { path: { id: orgId, user_id: m.user_id } } })))}
                    >
                      <Trash2 aria-hidden /> Remove
                    </Button>
                  </TableCell>
                )}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {error && <p role="alert" className="text-destructive text-sm">{error}</p>}
      {canManage && (
        <div className="grid gap-4 md:grid-cols-2">
          {isManager(session) && (
            <form
              className="flex items-end gap-2"
              onSubmit={(e) => {
                e.preventDefault();
                void act(async () => unwrap(await api.POST("/admin/api/v1/organizations/{id}/members", { params: { path: { id: orgId } }, body: { user_id: addUser, role: addRole } })));
              }}
            >
              <Field label="Add a member">
                {(id) => (
                  <NativeSelect id={id} required value={addUser} onChange={(e) => setAddUser(e.target.value)}>
                    <option value="">Choose a user…</option>
                    {(users.data ?? [])
                      .filter((u) => u.user_type === "individual")
                      .map((u) => (
                        <option key={u.id} value={u.id ?? ""}>
                          {u.username}
                        </option>
                      ))}
                  </NativeSelect>
                )}
              </Field>
              <NativeSelect aria-label="Role of the new member" value={addRole} onChange={(e) => setAddRole(e.target.value as OrgRole)}>
                <option value="member">member</option>
                <option value="admin">admin</option>
                <option value="owner">owner</option>
              </NativeSelect>
              <Button type="submit" variant="outline" disabled={!addUser}>
                Add
              </Button>
            </form>
          )}
          <form
            className="flex items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              void act(async () => setLink(await inviteToOrganization(orgId, inviteRole)));
            }}
          >
            <Field label="Invite by link as">
              {(id) => (
                <NativeSelect id={id} value={inviteRole} onChange={(e) => setInviteRole(e.target.value as "member" | "admin")}>
                  <option value="member">member</option>
                  <option value="admin">admin</option>
                </NativeSelect>
              )}
            </Field>
            <Button type="submit" variant="outline">
              <Link2 aria-hidden /> Create invitation link
            </Button>
          </form>
        </div>
      )}
      <LinkDialog link={link} title="Invitation link" onClose={() => setLink(null)} />
    </div>
  );
}

function OrganizationsTab() {
  const qc = useQueryClient();
  const orgs = useQuery({
    queryKey: ["organizations", "list"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/organizations", { params: { query: { limit: 500 } } })).data,
  });
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/admin/api/v1/organizations", { body: { name: name.trim(), email: email.trim() } })),
    onSuccess: (o) => {
      void qc.invalidateQueries({ queryKey: ["organizations"] });
      setCreating(false);
      setSelected(o.id);
    },
  });
  const current = orgs.data?.find((o) => o.id === selected) ?? orgs.data?.[0];
  return (
    <div className="grid gap-6 lg:grid-cols-[20rem_1fr]">
      <Card className="py-2">
        <CardContent className="px-2">
          <div className="flex items-center justify-between p-2">
            <h2 className="font-medium">Organizations</h2>
            <Button size="sm" variant="outline" onClick={() => setCreating(true)}>
              <Plus aria-hidden /> New
            </Button>
          </div>
          {orgs.isPending ? (
            <Loading rows={3} label="Loading organizations" />
          ) : orgs.data?.length === 0 ? (
            <Empty>No organizations yet.</Empty>
          ) : (
            <ul className="grid gap-1" aria-label="Organizations">
              {orgs.data?.map((o) => (
                <li key={o.id}>
                  <button
                    type="button"
                    aria-current={current?.id === o.id ? "true" : undefined}
                    onClick={() => setSelected(o.id)}
                    className={`w-full rounded-md px-3 py-2 text-left text-sm ${current?.id === o.id ? "bg-accent text-accent-foreground" : "hover:bg-muted"}`}
                  >
                    <span className="font-medium">{o.display_name || o.username}</span>
                    <span className="text-muted-foreground block text-xs">
                      {o.member_count} member(s){o.your_role ? ` · you: ${o.your_role}` : ""} · {credits(o.balance)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
      {current ? (
        <Card>
          <CardHeader>
            <CardTitle>{current.display_name || current.username}</CardTitle>
            <CardDescription>
              {current.email} · balance {credits(current.balance)}
            </CardDescription>
          </CardHeader>
          <CardContent>{current.id && <Members orgId={current.id} myRole={current.your_role ?? null} />}</CardContent>
        </Card>
      ) : (
        <div />
      )}
      <Dialog open={creating} onOpenChange={setCreating}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>New organization</DialogTitle>
            <DialogDescription>You become its owner. It has its own balance, keys and usage.</DialogDescription>
          </DialogHeader>
          <form
            className="grid gap-4"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate();
            }}
          >
            <Field label="Organization name">{(id) => <Input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}</Field>
            <Field label="Billing email">{(id) => <Input id={id} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
            {create.error && <p role="alert" className="text-destructive text-sm">{create.error.message}</p>}
            <DialogFooter>
              <Button type="submit" aria-busy={create.isPending} disabled={create.isPending}>
                {create.isPending && <Loader2 aria-hidden className="animate-spin" />}
                Create organization
              </Button>
            </DialogFooter>
          </form>
        </DialogContent>
      </Dialog>
    </div>
  );
}

/**
 * One side of a group: the things it holds (each with a remove button) and a form that adds one
 * picked from `candidates`. Members and granted models are the same control with other words.
 */
function GroupHoldings(props: {
  headingId: string;
  title: string;
  held: { id: string; label: ReactNode; removeLabel: string }[];
  onRemove: (id: string) => Promise<void>;
  candidates: { id: string; label: string }[];
  pickLabel: string;
  placeholder: string;
  addLabel: string;
  onAdd: (id: string) => Promise<void>;
}) {
  const [picked, setPicked] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (fn: () => Promise<void>, what: string) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(`${what} failed: ${err instanceof Error ? err.message : String(err)} Reload the page and try again.`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby={props.headingId} className="grid gap-2">
      <h3 id={props.headingId} className="font-medium">
        {props.title}
      </h3>
      <ul className="grid gap-1 text-sm">
        {props.held.length === 0 && <li className="text-muted-foreground px-3 py-1.5">None yet.</li>}
        {props.held.map((h) => (
          <li key={h.id} className="flex items-center justify-between rounded-md border px-3 py-1.5">
            {h.label}
            <Button variant="ghost" size="sm" aria-label={h.removeLabel} disabled={busy} onClick={() => void run(() => props.onRemove(h.id), h.removeLabel)}>
              <Trash2 aria-hidden />
            </Button>
          </li>
        ))}
      </ul>
      {error && (
        <p role="alert" className="text-destructive text-sm">
          {error}
        </p>
      )}
      <form
        className="flex items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await props.onAdd(picked);
            setPicked("");
          }, props.addLabel);
        }}
      >
        <NativeSelect aria-label={props.pickLabel} value={picked} onChange={(e) => setPicked(e.target.value)}>
          <option value="">{props.placeholder}</option>
          {props.candidates.map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
        </NativeSelect>
        <Button type="submit" variant="outline" disabled={!picked || busy}>
          {props.addLabel}
        </Button>
      </form>
    </section>
  );
}

function GroupDetail({ groupId }: { groupId: string }) {
  const session = useSession();
  const qc = useQueryClient();
  const users = useUsers(session);
  const members = useQuery({
    queryKey: ["groups", groupId, "users"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/groups/{id}/users", { params: { path: { id: groupId }, query: { limit: 500 } } })).data,
  });
  const models = useQuery({
    queryKey: ["groups", groupId, "models"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/groups/{id}/models", { params: { path: { id: groupId }, query: { limit: 500 } } })).data,
  });
  const allModels = useQuery({ queryKey: ["models"], queryFn: async () => unwrap(await api.GET("/admin/api/v1/models", { params: { query: { limit: 500 } } })).data });
  const refresh = () => qc.invalidateQueries({ queryKey: ["groups", groupId] });
  return (
    <div className="grid gap-6 md:grid-cols-2">
      <GroupHoldings
        headingId="gm-h"
        title="Members"
        held={(members.data ?? []).map((m) => ({ id: m.id, label: m.username, removeLabel: `Remove ${m.username} from the group` }))}
        onRemove={async (userId) => {
          unwrap(await api.DELETE("/admin/api/v1/groups/{id}/users/{user_id}", { params: { path: { id: groupId, user_id: userId } } }));
          await refresh();
        }}
        candidates={(users.data ?? []).filter((u) => u.id !== SYSTEM_USER_ID && !members.data?.some((m) => m.id === u.id)).map((u) => ({ id: u.id, label: u.username }))}
        pickLabel="User to add"
        placeholder="Choose a user…"
        addLabel="Add"
        onAdd={async (userId) => {
          unwrap(await api.POST("/admin/api/v1/groups/{id}/users", { params: { path: { id: groupId } }, body: { user_id: userId } }));
          await refresh();
        }}
      />
      <GroupHoldings
        headingId="gmod-h"
        title="Models it grants"
        held={(models.data ?? []).map((m) => ({ id: m.id, label: <code className="text-xs">{m.alias}</code>, removeLabel: `Withdraw ${m.alias} from the group` }))}
        onRemove={async (modelId) => {
          unwrap(await api.DELETE("/admin/api/v1/groups/{id}/models/{model_id}", { params: { path: { id: groupId, model_id: modelId } } }));
          await refresh();
        }}
        candidates={(allModels.data ?? []).filter((m) => !models.data?.some((g) => g.id === m.id)).map((m) => ({ id: m.id, label: m.alias }))}
        pickLabel="Model to grant"
        placeholder="Choose a model…"
        addLabel="Grant"
        onAdd={async (modelId) => {
          unwrap(await api.POST("/admin/api/v1/groups/{id}/models", { params: { path: { id: groupId } }, body: { model_id: modelId } }));
          await refresh();
        }}
      />
    </div>
  );
}

function GroupsTab() {
  const session = useSession();
  const qc = useQueryClient();
  const manager = isManager(session);
  const groups = useQuery({ queryKey: ["groups"], queryFn: async () => unwrap(await api.GET("/admin/api/v1/groups", { params: { query: { limit: 500 } } })).data });
  const [selected, setSelected] = useState<string | null>(null);
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/admin/api/v1/groups", { body: { name: name.trim() } })),
    onSuccess: (g) => {
      setName("");
      setSelected(g.id);
      void qc.invalidateQueries({ queryKey: ["groups"] });
    },
  });
  return (
    <div className="grid gap-6 lg:grid-cols-[20rem_1fr]">
      <Card className="py-2">
        <CardContent className="grid gap-2 px-2">
          <h2 className="p-2 font-medium">Groups</h2>
          {groups.isPending ? (
            <Loading rows={3} label="Loading groups" />
          ) : (
            <ul className="grid gap-1" aria-label="Groups">
              {groups.data?.map((g) => (
                <li key={g.id}>
                  <button
                    type="button"
                    aria-current={selected === g.id ? "true" : undefined}
                    onClick={() => setSelected(g.id)}
                    className={`w-full rounded-md px-3 py-2 text-left text-sm ${selected === g.id ? "bg-accent text-accent-foreground" : "hover:bg-muted"}`}
                  >
                    <span className="font-medium">{g.name}</span> {g.builtin && <Badge variant="secondary">built in</Badge>}
                    {g.description && <span className="text-muted-foreground block text-xs">{g.description}</span>}
                  </button>
                </li>
              ))}
            </ul>
          )}
          {manager && (
            <form
              className="flex gap-2 p-2"
              onSubmit={(e) => {
                e.preventDefault();
                create.mutate();
              }}
            >
              <Input aria-label="New group name" placeholder="New group name" required value={name} onChange={(e) => setName(e.target.value)} />
              <Button type="submit" variant="outline" aria-busy={create.isPending} disabled={create.isPending}>
                {create.isPending && <Loader2 aria-hidden className="animate-spin" />}
                Create
              </Button>
            </form>
          )}
          {create.error && <p role="alert" className="text-destructive px-2 text-sm">{create.error.message}</p>}
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>{groups.data?.find((g) => g.id === selected)?.name ?? "Choose a group"}</CardTitle>
          <CardDescription>A group grants its members the models it holds (models open to everyone need none).</CardDescription>
        </CardHeader>
        <CardContent>{selected && manager ? <GroupDetail groupId={selected} /> : <p className="text-muted-foreground text-sm">{manager ? "Select a group to see its members and models." : "Groups are managed by platform managers."}</p>}</CardContent>
      </Card>
    </div>
  );
}

export default function People() {
  const session = useSession();
  const manager = readsAllUsers(session);
  return (
    <>
      <PageHeader title="Users, organizations and groups" description="Who can sign in, what they may do, and which teams share credits and keys." />
      <Tabs defaultValue={manager ? "users" : "organizations"}>
        <TabsList>
          {manager && <TabsTrigger value="users">Users</TabsTrigger>}
          <TabsTrigger value="organizations">Organizations</TabsTrigger>
          <TabsTrigger value="groups">Groups</TabsTrigger>
        </TabsList>
        {manager && (
          <TabsContent value="users">
            <UsersTab />
          </TabsContent>
        )}
        <TabsContent value="organizations">
          <OrganizationsTab />
        </TabsContent>
        <TabsContent value="groups">
          <GroupsTab />
        </TabsContent>
      </Tabs>
    </>
  );
}
