"use client";

import { createContext, useContext, type ReactNode } from "react";
import { roleAllows, type Access, type Me } from "@/lib/contracts/auth";

/**
 * Who is signed in, for the UI: the root layout reads it on the server (the page guard already
 * checked it) and hands it down. The UI hides what the role may not do; the server refuses it anyway.
 */
const SessionContext = createContext<Me | null>(null);

export function SessionProvider({ me, children }: { me: Me | null; children: ReactNode }) {
  return <SessionContext.Provider value={me}>{children}</SessionContext.Provider>;
}

/** The signed-in caller, or null on the sign-in page. */
export function useMe(): Me | null {
  return useContext(SessionContext);
}

/** True when the signed-in caller's role allows `access`. */
export function useAllowed(access: Access): boolean {
  return roleAllows(useMe()?.role, access);
}

/** Renders its children only for a role that allows `access` (else `otherwise`, by default nothing). */
export function Allowed({ access, children, otherwise = null }: { access: Access; children: ReactNode; otherwise?: ReactNode }) {
  return useAllowed(access) ? <>{children}</> : <>{otherwise}</>;
}
