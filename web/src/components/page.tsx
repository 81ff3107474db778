import { Link } from "@tanstack/react-router";
import { AlertCircle, ChevronLeft, ChevronRight } from "lucide-react";
import type * as React from "react";
import { ApiError } from "@/api/client";
import { Alert, AlertDescription, AlertTitle } from "./ui/alert";
import { Button } from "./ui/button";
import { Skeleton } from "./ui/skeleton";

export function PageHeader({ title, description, actions }: { title: string; description?: React.ReactNode; actions?: React.ReactNode }) {
  return (
    <header className="mb-6 flex flex-wrap items-end justify-between gap-4">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">{title}</h1>
        {description && <p className="text-muted-foreground mt-1 text-sm">{description}</p>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </header>
  );
}

/** What the person can do about an error, from its status (the message says what went wrong). */
export function advice(error: unknown): string | null {
  if (error instanceof ApiError) {
    if (error.status === 403) return "Your role does not allow this: ask a platform manager.";
    if (error.status === 404) return "It may have been deleted, or it belongs to someone else.";
    if (error.status === 429) return "Wait a moment, then try again.";
    if (error.status >= 500) return "The gateway could not finish this: try again in a moment; if it persists, check the gateway's logs.";
    return null;
  }
  if (error instanceof TypeError) return "The gateway did not answer: check the connection and reload the page.";
  return null;
}

export function QueryError({ error, title = "Could not load this" }: { error: unknown; title?: string }) {
  const hint = advice(error);
  return (
    <Alert variant="destructive">
      <AlertCircle aria-hidden />
      <AlertTitle>{title}</AlertTitle>
      <AlertDescription>
        {error instanceof Error ? error.message : String(error)}
        {hint && ` ${hint}`}
      </AlertDescription>
    </Alert>
  );
}

export function Loading({ rows = 5, label = "Loading" }: { rows?: number; label?: string }) {
  return (
    <div role="status" aria-label={label} className="space-y-2">
      {Array.from({ length: rows }, (_, i) => (
        <Skeleton key={i} className="h-8 w-full" />
      ))}
    </div>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <p className="text-muted-foreground py-10 text-center text-sm">{children}</p>;
}

export function Pager({ skip, limit, total, onPage }: { skip: number; limit: number; total: number; onPage: (page: number) => void }) {
  const page = Math.floor(skip / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <nav aria-label="Pagination" className="text-muted-foreground flex items-center justify-between gap-2 pt-3 text-sm">
      <span>
        {total === 0 ? "No rows" : `${skip + 1}–${Math.min(skip + limit, total)} of ${total.toLocaleString("en-US")}`}
      </span>
      <div className="flex gap-1">
        <Button variant="outline" size="sm" disabled={page <= 1} onClick={() => onPage(page - 1)} aria-label="Previous page">
          <ChevronLeft aria-hidden />
        </Button>
        <Button variant="outline" size="sm" disabled={page >= pages} onClick={() => onPage(page + 1)} aria-label="Next page">
          <ChevronRight aria-hidden />
        </Button>
      </div>
    </nav>
  );
}

export function NotFound() {
  return (
    <div className="mx-auto max-w-md py-24 text-center">
      <h1 className="text-2xl font-semibold">Page not found</h1>
      <p className="text-muted-foreground mt-2">There is nothing at this address.</p>
      <Button asChild className="mt-6">
        <Link to="/" search={{ period: "7d", by: "model" }}>Go to the overview</Link>
      </Button>
    </div>
  );
}
