import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";
import { Providers } from "./providers";
import { Nav } from "@/components/layout/nav";
import { SessionProvider } from "@/components/layout/session";
import { TransportWarning } from "@/components/layout/transport-warning";
import { pageMe } from "@/lib/auth/page-session";
import { agentTransportWarning } from "@/lib/agent/transport";
import { getEnv } from "@/lib/env";

export const metadata: Metadata = {
  title: { default: "Lifeboat", template: "%s · Lifeboat" },
  description: "Backups, health and guided restores for k3s clusters on SQLite.",
};

// Every page depends on who is signed in (and gets a fresh CSP nonce): nothing is prerendered.
export const dynamic = "force-dynamic";

export default async function RootLayout({ children }: { children: ReactNode }) {
  const me = await pageMe();
  const warning = me ? agentTransportWarning(getEnv()) : null;
  return (
    <html lang="en">
      <body>
        <Providers>
          <SessionProvider me={me}>
            <Nav />
            <main className="mx-auto max-w-7xl px-4 py-6">
              {warning && <TransportWarning text={warning} />}
              {children}
            </main>
          </SessionProvider>
        </Providers>
      </body>
    </html>
  );
}
