import { useQuery } from "@tanstack/react-query";
import { readsAllUsers } from "@/api/auth";
import { api, unwrap } from "@/api/client";
import type { Session } from "@/api/auth";

/** Users a platform or billing manager may pick from (first 500), for filters and names. */
export function useUsers(session: Session, enabled = true) {
  return useQuery({
    queryKey: ["users", "all"],
    enabled: enabled && readsAllUsers(session),
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/users", { params: { query: { limit: 500 } } })).data,
  });
}

/** The caller's own API keys (or the acting organization's). */
export function useOwnKeys() {
  return useQuery({
    queryKey: ["api-keys", "current", "all"],
    queryFn: async () => unwrap(await api.GET("/admin/api/v1/users/{user_id}/api-keys", { params: { path: { user_id: "current" }, query: { limit: 500 } } })).data,
  });
}

export function nameMap<T extends { id: string | null }>(rows: T[] | undefined, label: (r: T) => string): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of rows ?? []) if (r.id) m.set(r.id, label(r));
  return m;
}
