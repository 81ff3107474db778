import { Loader2 } from "lucide-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { isSystemUser, managesCredits, SYSTEM_USER_ID } from "@/api/auth";
import { api, currentOrganization, unwrap } from "@/api/client";
import { Field } from "@/components/field";
import { Empty, Loading, PageHeader, Pager, QueryError } from "@/components/page";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { NativeSelect } from "@/components/ui/native-select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { creditAmount, credits, shortId, when } from "@/lib/format";
import { nameMap, useUsers } from "@/lib/names";
import { useSession } from "@/lib/session";

const LIMIT = 25;
/** Credit accounts: every user and organization but the built-in system user (it holds no credits). */
const accounts = <T extends { id: string }>(users: T[] | undefined) => (users ?? []).filter((u) => u.id !== SYSTEM_USER_ID);
const CREDIT_TYPES = new Set(["admin_grant", "purchase"]);

function GrantForm() {
  const session = useSession();
  const users = useUsers(session);
  const qc = useQueryClient();
  const [userId, setUserId] = useState("");
  const [type, setType] = useState<"admin_grant" | "admin_removal">("admin_grant");
  const [amount, setAmount] = useState("");
  const [description, setDescription] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const grant = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/admin/api/v1/transactions", {
          body: { user_id: userId, transaction_type: type, amount: amount.trim(), description: description.trim() || null, source_id: `console-${crypto.randomUUID()}` },
        }),
      ),
    onSuccess: (t) => {
      setDone(`${type === "admin_grant" ? "Granted" : "Removed"} ${credits(t.amount)}.`);
      setAmount("");
      setDescription("");
      void qc.invalidateQueries({ queryKey: ["transactions"] });
      void qc.invalidateQueries({ queryKey: ["users"] });
    },
  });
  return (
    <Card>
      <CardHeader>
        <CardTitle>Grant or remove credits</CardTitle>
        <CardDescription>Each change is a ledger entry; balances follow from the ledger.</CardDescription>
      </CardHeader>
      <CardContent>
        <form
          className="grid gap-4"
          onSubmit={(e) => {
            e.preventDefault();
            setDone(null);
            grant.mutate();
          }}
        >
          <Field label="Account">
            {(id) => (
              <NativeSelect id={id} required value={userId} onChange={(e) => setUserId(e.target.value)}>
                <option value="">Choose a user or organization…</option>
                {accounts(users.data).map((u) => (
                  <option key={u.id} value={u.id ?? ""}>
                    {u.username} ({credits(u.balance)})
                  </option>
                ))}
              </NativeSelect>
            )}
          </Field>
          <div className="grid grid-cols-2 gap-4">
            <Field label="Change">
              {(id) => (
                <NativeSelect id={id} value={type} onChange={(e) => setType(e.target.value as "admin_grant" | "admin_removal")}>
                  <option value="admin_grant">Grant</option>
                  <option value="admin_removal">Remove</option>
                </NativeSelect>
              )}
            </Field>
            <Field label="Amount (credits)">{(id) => <Input id={id} required inputMode="decimal" pattern="[0-9]+(\.[0-9]+)?" value={amount} onChange={(e) => setAmount(e.target.value)} placeholder="25.00" />}</Field>
          </div>
          <Field label="Description">{(id) => <Input id={id} maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} placeholder="Why (shown in the ledger)" />}</Field>
          {grant.error && <p role="alert" className="text-destructive text-sm">{grant.error.message}</p>}
          {done && <p role="status" className="text-success text-sm">{done}</p>}
          <Button type="submit" aria-busy={grant.isPending} disabled={grant.isPending || !userId || !amount}>
            {grant.isPending && <Loader2 aria-hidden className="animate-spin" />}
            {type === "admin_grant" ? "Grant credits" : "Remove credits"}
          </Button>
        </form>
      </CardContent>
    </Card>
  );
}

export default function Billing() {
  const session = useSession();
  const manager = managesCredits(session);
  // The system user (ADMIN_TOKEN) outside an organization: there is no balance of its own to show.
  const system = isSystemUser(session) && !currentOrganization();
  const [skip, setSkip] = useState(0);
  // Whose balance: the organization acted for (its ledger is the one listed), else the caller's own.
  const holder = currentOrganization() ?? "current";
  const me = useQuery({ queryKey: ["users", holder], queryFn: async () => unwrap(await api.GET("/admin/api/v1/users/{id}", { params: { path: { id: holder } } })) });
  const ledger = useQuery({
    queryKey: ["transactions", skip],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/transactions", { params: { query: { limit: LIMIT, skip } } })),
  });
  const users = useUsers(session);
  const names = nameMap(users.data, (u) => u.username);
  return (
    <>
      <PageHeader title="Billing" description="Prepaid credits: the balance, and the ledger every charge and grant is written to." />
      <div className="grid gap-6 lg:grid-cols-3">
        <Card>
          <CardHeader>
            <CardDescription>{system ? "Admin token" : me.data?.user_type === "organization" ? "Organization balance" : "Your balance"}</CardDescription>
            <CardTitle>
              {system ? (
                <span className="text-lg">Holds no credits</span>
              ) : (
                <span className="text-3xl tabular-nums" data-stat="balance">
                  {me.data ? credits(me.data.balance) : "…"}
                </span>
              )}
            </CardTitle>
          </CardHeader>
          <CardContent className="text-muted-foreground text-sm">
            {system
              ? "The admin token acts as the built-in system user, which is not a credit account: grant credits to users and organizations here, and see every balance below."
              : `Requests are refused with 402 when the balance cannot cover them.${manager ? "" : " Ask a billing manager for credits."}`}
          </CardContent>
        </Card>
        {manager && (
          <div className="lg:col-span-2">
            <GrantForm />
          </div>
        )}
      </div>
      <Card className="mt-6">
        <CardHeader>
          <CardTitle>Ledger</CardTitle>
          <CardDescription>{manager ? "Every account's transactions, newest first." : "Your transactions, newest first."}</CardDescription>
        </CardHeader>
        <CardContent>
          {ledger.error && <QueryError error={ledger.error} />}
          {ledger.isPending ? (
            <Loading rows={5} label="Loading ledger" />
          ) : ledger.data?.data.length === 0 ? (
            <Empty>No transactions yet.</Empty>
          ) : (
            <Table aria-label="Ledger">
              <TableHeader>
                <TableRow>
                  <TableHead>Time</TableHead>
                  {manager && <TableHead>Account</TableHead>}
                  <TableHead>Type</TableHead>
                  <TableHead>Description</TableHead>
                  <TableHead className="text-right">Amount (credits)</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {ledger.data?.data.map((t) => (
                  <TableRow key={t.id}>
                    <TableCell className="text-muted-foreground">{when(t.created_at)}</TableCell>
                    {manager && <TableCell>{names.get(t.user_id) ?? shortId(t.user_id)}</TableCell>}
                    <TableCell>
                      <Badge variant={CREDIT_TYPES.has(t.transaction_type) ? "success" : "secondary"}>{t.transaction_type.replace(/_/g, " ")}</Badge>
                    </TableCell>
                    <TableCell className="text-muted-foreground max-w-xs truncate">{t.description ?? "—"}</TableCell>
                    <TableCell className="text-right font-medium tabular-nums">
                      {CREDIT_TYPES.has(t.transaction_type) ? "+" : "−"}
                      {creditAmount(t.amount, 6)}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
          {ledger.data && ledger.data.total_count > LIMIT && <Pager skip={skip} limit={LIMIT} total={ledger.data.total_count} onPage={(p) => setSkip((p - 1) * LIMIT)} />}
        </CardContent>
      </Card>
      {manager && (
        <Card className="mt-6">
          <CardHeader>
            <CardTitle>Balances</CardTitle>
            <CardDescription>All users and organizations.</CardDescription>
          </CardHeader>
          <CardContent>
            {users.isPending ? (
              <Loading rows={4} label="Loading balances" />
            ) : (
              <Table aria-label="Balances">
                <TableHeader>
                  <TableRow>
                    <TableHead>Account</TableHead>
                    <TableHead>Kind</TableHead>
                    <TableHead>Email</TableHead>
                    <TableHead className="text-right">Balance (credits)</TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {accounts(users.data).map((u) => (
                    <TableRow key={u.id}>
                      <TableCell className="font-medium">{u.display_name || u.username}</TableCell>
                      <TableCell className="text-muted-foreground">{u.user_type}</TableCell>
                      <TableCell className="text-muted-foreground">{u.email ?? "—"}</TableCell>
                      <TableCell className="text-right tabular-nums">{creditAmount(u.balance)}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            )}
          </CardContent>
        </Card>
      )}
    </>
  );
}
