import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, Outlet, useRouterState } from "@tanstack/react-router";
import { BarChart3, BookOpen, Boxes, CreditCard, FileText, KeyRound, Layers, ListTree, LogOut, MessageSquare, Moon, Sun, Users } from "lucide-react";
import { useEffect, useState, useSyncExternalStore } from "react";
import { isManager, signOut } from "@/api/auth";
import { api, currentOrganization, setOrganization, subscribeOrganization, unwrap } from "@/api/client";
import { SESSION_KEY, SessionProvider, useSession, useSessionQuery } from "@/lib/session";
import { initialTheme, saveTheme, type Theme } from "@/lib/theme";
import { cn } from "@/lib/utils";
import { preloadPages } from "@/router";
import { SignIn } from "./sign-in";
import { Loading } from "./page";
import { Button } from "./ui/button";
import { NativeSelect } from "./ui/native-select";

const NAV = [
  { to: "/", label: "Overview", icon: BarChart3, managersOnly: false },
  { to: "/requests", label: "Requests", icon: ListTree, managersOnly: false },
  { to: "/keys", label: "API keys", icon: KeyRound, managersOnly: false },
  { to: "/billing", label: "Billing", icon: CreditCard, managersOnly: false },
  { to: "/models", label: "Models", icon: Boxes, managersOnly: true },
  { to: "/people", label: "Users & orgs", icon: Users, managersOnly: false },
  { to: "/responses", label: "Responses", icon: FileText, managersOnly: false },
  { to: "/batches", label: "Batches", icon: Layers, managersOnly: false },
  { to: "/playground", label: "Playground", icon: MessageSquare, managersOnly: false },
  { to: "/reference", label: "API reference", icon: BookOpen, managersOnly: false },
] as const;

/** The signed-in app: the session check, then the sidebar, header and page. */
export function AppShell() {
  const session = useSessionQuery();
  if (session.isPending) {
    return (
      <div className="mx-auto max-w-sm p-10">
        <Loading rows={3} label="Checking your session" />
      </div>
    );
  }
  if (!session.data) return <SignIn />;
  return (
    <SessionProvider value={session.data}>
      <Shell />
    </SessionProvider>
  );
}

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const next = theme === "dark" ? "light" : "dark";
  return (
    <Button
      variant="ghost"
      size="icon"
      aria-label={`Switch to ${next} theme`}
      onClick={() => {
        saveTheme(next);
        setTheme(next);
      }}
    >
      {theme === "dark" ? <Sun aria-hidden /> : <Moon aria-hidden />}
    </Button>
  );
}

function OrganizationSwitcher() {
  const qc = useQueryClient();
  const org = useSyncExternalStore(subscribeOrganization, currentOrganization) ?? "";
  const orgs = useQuery({
    queryKey: ["organizations", "switcher"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/organizations", { params: { query: { limit: 100 } }, headers: { "X-Organization-Id": "" } })),
  });
  const list = orgs.data?.data ?? [];
  if (list.length === 0 && !org) return null;
  return (
    <div className="flex items-center gap-2">
      <label htmlFor="org-switcher" className="text-muted-foreground hidden text-sm sm:block">
        Acting as
      </label>
      <NativeSelect
        id="org-switcher"
        aria-label="Organization"
        className="w-48"
        value={org}
        onChange={(e) => {
          const id = e.target.value || null;
          setOrganization(id);
          // Everything shown belongs to the old context: refetch it all.
          void qc.invalidateQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
        }}
      >
        <option value="">Personal</option>
        {list.map((o) => (
          <option key={o.id} value={o.id ?? ""}>
            {o.display_name || o.username}
          </option>
        ))}
      </NativeSelect>
    </div>
  );
}

function Shell() {
  const session = useSession();
  const qc = useQueryClient();
  useEffect(() => preloadPages(qc), [qc]);
  const path = useRouterState({ select: (s) => s.location.pathname });
  const manager = isManager(session);
  const [signingOut, setSigningOut] = useState(false);
  const name = session.user.display_name || session.user.username;
  return (
    <div className="flex min-h-screen">
      <aside className="bg-sidebar hidden w-60 shrink-0 flex-col border-r md:flex">
        <div className="flex h-14 items-center gap-2 border-b px-5">
          <img src="/favicon.svg" alt="" className="size-6" />
          <span className="font-semibold tracking-tight">Tollgate</span>
          <span className="text-muted-foreground text-xs">Console</span>
        </div>
        <nav aria-label="Main" className="flex-1 space-y-0.5 p-3">
          {NAV.filter((n) => manager || !n.managersOnly).map((n) => {
            const active = n.to === "/" ? path === "/" : path.startsWith(n.to);
            return (
              <Link
                key={n.to}
                to={n.to}
                aria-current={active ? "page" : undefined}
                className={cn(
                  "flex items-center gap-3 rounded-md px-3 py-2 text-sm font-medium transition-colors",
                  active ? "bg-accent text-accent-foreground" : "text-muted-foreground hover:bg-accent/60 hover:text-foreground",
                )}
              >
                <n.icon aria-hidden className="size-4" />
                {n.label}
              </Link>
            );
          })}
        </nav>
        <div className="border-t p-3">
          <div className="px-3 pb-2">
            <p className="truncate text-sm font-medium">{name}</p>
            <p className="text-muted-foreground truncate text-xs">{session.user.roles.filter((r) => r !== "standard_user").join(", ") || "standard user"}</p>
          </div>
          <Button
            variant="ghost"
            className="w-full justify-start"
            disabled={signingOut}
            onClick={async () => {
              setSigningOut(true);
              try {
                await signOut();
              } finally {
                setOrganization(null);
                qc.removeQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
                qc.setQueryData(SESSION_KEY, null);
              }
            }}
          >
            <LogOut aria-hidden /> Sign out
          </Button>
        </div>
      </aside>
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="bg-background/80 sticky top-0 z-10 flex h-14 items-center justify-between gap-3 border-b px-6 backdrop-blur">
          <nav aria-label="Sections" className="flex gap-1 overflow-x-auto md:hidden">
            {NAV.filter((n) => manager || !n.managersOnly).map((n) => (
              <Link key={n.to} to={n.to} className="text-muted-foreground rounded px-2 py-1 text-sm whitespace-nowrap">
                {n.label}
              </Link>
            ))}
          </nav>
          <div className="hidden md:block" />
          <div className="flex items-center gap-2">
            <OrganizationSwitcher />
            <ThemeToggle />
          </div>
        </header>
        <main className="mx-auto w-full max-w-7xl flex-1 p-6">
          <Outlet />
        </main>
      </div>
    </div>
  );
}
