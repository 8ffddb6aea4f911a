import { Banner } from "@/components/ui/banner";
import type { ApiRequestError } from "@/lib/client/api-fetch";

/**
 * Why the last action of a wizard did not work, in the server's words. When the server's upstream
 * failed (a 5xx: the agent is away or refuses the token), also what to check, when the server says.
 */
export function WizardActionError({ error }: { error: ApiRequestError | null }) {
  if (!error) return null;
  const hint = error.status >= 500 && typeof error.details.hint === "string" ? error.details.hint : null;
  return (
    <Banner tone="error" title="That did not work">
      {error.message}
      {hint && ` Check ${hint}`}
    </Banner>
  );
}
