import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect } from "react";
import { fetchSession, type Session } from "@/api/auth";
import { setUnauthorizedHandler } from "@/api/client";

export const SESSION_KEY = ["session"] as const;

/** The signed-in session, or null; undefined while the first check runs. */
export function useSessionQuery() {
  const qc = useQueryClient();
  useEffect(() => {
    // A 401 from any call means the session ended (expired, revoked, signed out elsewhere).
    setUnauthorizedHandler(() => {
      qc.setQueryData(SESSION_KEY, null);
    });
  }, [qc]);
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: 5 * 60_000, retry: false });
}

const SessionContext = createContext<Session | null>(null);
export const SessionProvider = SessionContext.Provider;

/** The session inside the signed-in app (never null there). */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside the signed-in app");
  return s;
}
