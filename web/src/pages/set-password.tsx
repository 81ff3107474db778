import { useMutation, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { Loader2 } from "lucide-react";
import { useState } from "react";
import { setPassword } from "@/api/auth";
import { Field } from "@/components/field";
import { Alert, AlertDescription } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { SESSION_KEY } from "@/lib/session";

const routeApi = getRouteApi("/set-password");
const MIN_LENGTH = 12;

export default function SetPassword() {
  const { token } = routeApi.useSearch();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [password, setPw] = useState("");
  const [confirm, setConfirm] = useState("");
  const mismatch = confirm.length > 0 && confirm !== password;
  const save = useMutation({
    mutationFn: () => setPassword(token, password),
    onSuccess: async (session) => {
      qc.setQueryData(SESSION_KEY, session);
      await navigate({ to: "/", search: { period: "7d", by: "model" } });
    },
  });
  return (
    <main className="flex min-h-screen items-center justify-center p-6">
      <Card className="w-full max-w-md">
        <CardHeader>
          <CardTitle>
            <span className="text-xl">Choose your password</span>
          </CardTitle>
          <CardDescription>At least {MIN_LENGTH} characters. You are signed in once it is set.</CardDescription>
        </CardHeader>
        <CardContent>
          {!token ? (
            <Alert variant="destructive">
              <AlertDescription>This link has no token. Ask your administrator for a new set-password link.</AlertDescription>
            </Alert>
          ) : (
            <form
              className="grid gap-4"
              onSubmit={(e) => {
                e.preventDefault();
                if (!mismatch) save.mutate();
              }}
            >
              <Field label="New password">{(id) => <Input id={id} type="password" autoComplete="new-password" minLength={MIN_LENGTH} required value={password} onChange={(e) => setPw(e.target.value)} />}</Field>
              <Field label="Repeat the password">
                {(id) => <Input id={id} type="password" autoComplete="new-password" required aria-invalid={mismatch} value={confirm} onChange={(e) => setConfirm(e.target.value)} />}
              </Field>
              {mismatch && <p className="text-destructive text-sm">The passwords differ.</p>}
              {save.error && (
                <Alert variant="destructive">
                  <AlertDescription>{save.error.message}</AlertDescription>
                </Alert>
              )}
              <Button type="submit" aria-busy={save.isPending} disabled={save.isPending || mismatch}>
                {save.isPending && <Loader2 aria-hidden className="animate-spin" />}
                Set password and sign in
              </Button>
            </form>
          )}
        </CardContent>
      </Card>
    </main>
  );
}
