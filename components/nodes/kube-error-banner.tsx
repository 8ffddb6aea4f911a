import { Banner } from "@/components/ui/banner";
import { formatTime } from "@/components/ui/format";
import { ago } from "./format";
import type { KubeErrorInfo } from "@/lib/contracts/nodes";

const TITLES: Record<KubeErrorInfo["code"], string> = {
  not_configured: "No Kubernetes cluster is configured",
  unreachable: "The cluster does not answer",
  tls: "The cluster's certificate is not trusted",
  unauthorized: "The cluster rejected the dashboard's credentials",
  forbidden: "The dashboard is not allowed to do that",
  not_found: "Not found",
  conflict: "Changed at the same time",
  invalid: "Refused by the API server",
  other: "The Kubernetes API failed",
};

/**
 * A Kubernetes failure as the user sees it: what happened, how old the data on screen is when it
 * is a cached copy, and what to do.
 */
export function KubeErrorBanner({ error, cachedAt, now }: { error: KubeErrorInfo; cachedAt?: string | null; now?: Date }) {
  if (error.code === "not_configured")
    return (
      <Banner tone="warning" title={TITLES.not_configured}>
        <p>{error.message.replace(/^No Kubernetes cluster is configured\.\s*/, "")}</p>
        <p className="mt-1">
          A changed KUBECONFIG takes a restart of the dashboard; a kubeconfig file put in place is picked up at the next refresh. The rest of Lifeboat (backups,
          restores) works without it.
        </p>
      </Banner>
    );
  const title = cachedAt ? `${TITLES[error.code]} — showing what was last seen ${ago(cachedAt, now)} (${formatTime(cachedAt)})` : TITLES[error.code];
  return (
    <Banner tone="error" title={title}>
      <p>{error.message}</p>
      {error.status > 0 && (
        <p className="mt-1 text-xs opacity-80">
          HTTP {error.status}
          {error.cluster ? ` · cluster ${error.cluster}` : ""}
        </p>
      )}
    </Banner>
  );
}
