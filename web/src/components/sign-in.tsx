import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { KeyRound, Loader2, Mail, ShieldCheck } from "lucide-react";
import { useState } from "react";
import { authConfig, signIn } from "@/api/auth";
import { SESSION_KEY } from "@/lib/session";
import { Field } from "./field";
import { Alert, AlertDescription } from "./ui/alert";
import { Button } from "./ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "./ui/card";
import { Input } from "./ui/input";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "./ui/tabs";

export function SignIn() {
  const qc = useQueryClient();
  const config = useQuery({ queryKey: ["auth-config"], queryFn: authConfig, staleTime: Infinity });
  const [token, setToken] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const mutation = useMutation({
    mutationFn: signIn,
    onSuccess: (session) => {
      // Nothing cached under the previous identity may show under this one.
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
      qc.setQueryData(SESSION_KEY, session);
    },
  });
  const passwordEnabled = config.data?.password ?? true;
  // The form shows at whatever address was opened; an invitation link waits behind it.
  const invited = location.pathname === "/invite";
  return (
    <main className="flex min-h-screen items-center justify-center p-6">
      <div className="w-full max-w-md">
        <div className="mb-6 flex items-center justify-center gap-2">
          <img src="/favicon.svg" alt="" className="size-8" />
          <span className="text-xl font-semibold tracking-tight">Tollgate</span>
        </div>
        <Card>
          <CardHeader>
            <CardTitle>
              <span className="text-xl">Sign in to the console</span>
            </CardTitle>
            <CardDescription>
              {invited
                ? "Sign in to accept your invitation; you come back here. No password yet? Ask whoever invited you for a set-password link."
                : "Usage, keys, models and credits of your gateway."}
            </CardDescription>
          </CardHeader>
          <CardContent className="space-y-4">
            {config.data?.access.enabled && (
              <Alert>
                <ShieldCheck aria-hidden />
                <AlertDescription>
                  Single sign-on is on: open this console through Cloudflare Access{config.data.access.team_domain ? ` (${config.data.access.team_domain})` : ""} and you are signed in
                  automatically.
                </AlertDescription>
              </Alert>
            )}
            <Tabs defaultValue={passwordEnabled ? "password" : "token"}>
              <TabsList className="w-full">
                {passwordEnabled && (
                  <TabsTrigger value="password">
                    <Mail aria-hidden /> Email
                  </TabsTrigger>
                )}
                <TabsTrigger value="token">
                  <KeyRound aria-hidden /> Token
                </TabsTrigger>
              </TabsList>
              {passwordEnabled && (
                <TabsContent value="password">
                  <form
                    className="space-y-4"
                    onSubmit={(e) => {
                      e.preventDefault();
                      mutation.mutate({ email, password });
                    }}
                  >
                    <Field label="Email">{(id) => <Input id={id} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
                    <Field label="Password">
                      {(id) => <Input id={id} type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />}
                    </Field>
                    <Button type="submit" className="w-full" aria-busy={mutation.isPending} disabled={mutation.isPending}>
                      {mutation.isPending && <Loader2 aria-hidden className="animate-spin" />}
                      Sign in
                    </Button>
                  </form>
                </TabsContent>
              )}
              <TabsContent value="token">
                <form
                  className="space-y-4"
                  onSubmit={(e) => {
                    e.preventDefault();
                    mutation.mutate({ token: token.trim() });
                  }}
                >
                  <Field label="Admin token or platform key" hint="The ADMIN_TOKEN, or an API key with the platform purpose.">
                    {(id, hint) => <Input id={id} type="password" autoComplete="off" required aria-describedby={hint} value={token} onChange={(e) => setToken(e.target.value)} />}
                  </Field>
                  <Button type="submit" className="w-full" aria-busy={mutation.isPending} disabled={mutation.isPending}>
                    {mutation.isPending && <Loader2 aria-hidden className="animate-spin" />}
                    Sign in with token
                  </Button>
                </form>
              </TabsContent>
            </Tabs>
            {mutation.error && (
              <Alert variant="destructive">
                <AlertDescription>{mutation.error.message}</AlertDescription>
              </Alert>
            )}
          </CardContent>
        </Card>
      </div>
    </main>
  );
}
