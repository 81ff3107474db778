import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getRouteApi, useNavigate } from "@tanstack/react-router";
import { Loader2 } from "lucide-react";
import { acceptInvitation, getInvitation } from "@/api/auth";
import { setOrganization } from "@/api/client";
import { Loading, PageHeader, QueryError } from "@/components/page";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { when } from "@/lib/format";

const routeApi = getRouteApi("/app/invite");

export default function Invite() {
  const { token } = routeApi.useSearch();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const invitation = useQuery({ queryKey: ["invitation", token], queryFn: () => getInvitation(token), enabled: !!token, retry: false });
  const accept = useMutation({
    mutationFn: () => acceptInvitation(token),
    onSuccess: async () => {
      if (invitation.data) setOrganization(invitation.data.organization.id);
      await qc.invalidateQueries();
      await navigate({ to: "/people" });
    },
  });
  return (
    <>
      <PageHeader title="Invitation" />
      {!token && <QueryError error={new Error("This link has no invitation token.")} />}
      {invitation.error && <QueryError error={invitation.error} title="This invitation cannot be used" />}
      {invitation.isLoading && <Loading rows={2} label="Loading the invitation" />}
      {invitation.data && (
        <Card className="max-w-lg">
          <CardHeader>
            <CardTitle>Join {invitation.data.organization.name}</CardTitle>
            <CardDescription>
              As {invitation.data.role}; the invitation is valid until {when(invitation.data.expires_at)}.
            </CardDescription>
          </CardHeader>
          <CardContent className="grid gap-3">
            {accept.error && <QueryError error={accept.error} />}
            <Button onClick={() => accept.mutate()} aria-busy={accept.isPending} disabled={accept.isPending}>
              {accept.isPending && <Loader2 aria-hidden className="animate-spin" />}
              Accept and join
            </Button>
          </CardContent>
        </Card>
      )}
    </>
  );
}
