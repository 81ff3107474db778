import type { QueryClient } from "@tanstack/react-query";
import { createRootRouteWithContext, createRoute, createRouter, lazyRouteComponent, Outlet } from "@tanstack/react-router";
import { openApiQuery } from "./api/openapi";
import { scalarReference, usageChart } from "./lib/preloads";
import { AppShell } from "./components/app-shell";
import { NotFound } from "./components/page";
import { isPeriod, type Period } from "./lib/period";

const rootRoute = createRootRouteWithContext<{ queryClient: QueryClient }>()({ component: Outlet, notFoundComponent: NotFound });

const tokenSearch = (s: Record<string, unknown>) => ({ token: typeof s.token === "string" ? s.token : "" });
const setPasswordRoute = createRoute({ getParentRoute: () => rootRoute, path: "/set-password", validateSearch: tokenSearch, component: lazyRouteComponent(() => import("./pages/set-password")) });

const appRoute = createRoute({ getParentRoute: () => rootRoute, id: "app", component: AppShell });
const page = <P extends string>(path: P, load: () => Promise<{ default: React.ComponentType }>) =>
  createRoute({ getParentRoute: () => appRoute, path, component: lazyRouteComponent(load) });

export interface OverviewSearch {
  period: Period;
  by: "model" | "user" | "key";
}
const overviewRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/",
  validateSearch: (s: Record<string, unknown>): OverviewSearch => ({
    period: isPeriod(s.period) ? s.period : "7d",
    by: s.by === "user" || s.by === "key" ? s.by : "model",
  }),
  component: lazyRouteComponent(() => import("./pages/overview")),
});

export interface RequestsSearch {
  period: Period;
  model?: string;
  key?: string;
  user?: string;
  status?: number;
  page: number;
}
const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
export const requestsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/requests",
  validateSearch: (s: Record<string, unknown>): RequestsSearch => {
    const status = Number(s.status);
    const pageNo = Number(s.page);
    return {
      period: isPeriod(s.period) ? s.period : "7d",
      model: str(s.model),
      key: str(s.key),
      user: str(s.user),
      status: Number.isInteger(status) && status >= 100 && status < 600 ? status : undefined,
      page: Number.isInteger(pageNo) && pageNo > 0 ? pageNo : 1,
    };
  },
  component: lazyRouteComponent(() => import("./pages/requests")),
});
export const requestDetailRoute = page("/requests/$requestId", () => import("./pages/request-detail"));
export const responseDetailRoute = page("/responses/$responseId", () => import("./pages/response-detail"));
export interface ReferenceSearch {
  doc: "admin" | "ai";
  section?: string;
}
const referenceRoute = createRoute({
  getParentRoute: () => appRoute,
  path: "/reference",
  validateSearch: (s: Record<string, unknown>): ReferenceSearch => ({ doc: s.doc === "ai" ? "ai" : "admin", section: str(s.section) }),
  // Scalar's code and the document load side by side with the page's own code (not one after the other).
  loaderDeps: ({ search }) => ({ doc: search.doc }),
  loader: ({ context, deps }) => {
    void scalarReference.preload();
    void context.queryClient.prefetchQuery(openApiQuery(deps.doc));
  },
  component: lazyRouteComponent(() => import("./pages/reference")),
});
const inviteRoute = createRoute({ getParentRoute: () => appRoute, path: "/invite", validateSearch: tokenSearch, component: lazyRouteComponent(() => import("./pages/invite")) });

const routeTree = rootRoute.addChildren([
  setPasswordRoute,
  appRoute.addChildren([
    overviewRoute,
    requestsRoute,
    requestDetailRoute,
    page("/keys", () => import("./pages/keys")),
    page("/models", () => import("./pages/models")),
    page("/people", () => import("./pages/people")),
    page("/billing", () => import("./pages/billing")),
    page("/responses", () => import("./pages/responses")),
    responseDetailRoute,
    page("/batches", () => import("./pages/batches")),
    page("/playground", () => import("./pages/playground")),
    referenceRoute,
    inviteRoute,
  ]),
]);

export { overviewRoute, inviteRoute, setPasswordRoute };

/**
 * Fetches every page's code once the app is idle, so the first visit to a page waits only for its
 * data; and the API reference's renderer and documents, so that page waits for nothing.
 */
export function preloadPages(queryClient: QueryClient): void {
  const load = () => {
    for (const page of [
      () => import("./pages/overview"),
      () => import("./pages/requests"),
      () => import("./pages/request-detail"),
      () => import("./pages/keys"),
      () => import("./pages/billing"),
      () => import("./pages/models"),
      () => import("./pages/people"),
      () => import("./pages/responses"),
      () => import("./pages/response-detail"),
      () => import("./pages/batches"),
      () => import("./pages/playground"),
      () => import("./pages/reference"),
    ]) {
      void page();
    }
    void usageChart.preload();
    // The API reference's renderer is large: fetched last, a few seconds after the rest.
    setTimeout(() => {
      void scalarReference.preload();
      void queryClient.prefetchQuery(openApiQuery("admin"));
      void queryClient.prefetchQuery(openApiQuery("ai"));
    }, 3000);
  };
  if ("requestIdleCallback" in window) requestIdleCallback(load, { timeout: 2000 });
  else setTimeout(load, 500);
}

export const router = createRouter({ routeTree, context: { queryClient: undefined! }, defaultPreload: "intent", scrollRestoration: true });

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
